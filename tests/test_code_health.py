"""The package's shape: its import contracts (pyproject's [tool.importlinter]) hold and would catch a
breach; at most five modules at the package root; every checkpoint read is weights-only."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LINT = Path(sys.executable).parent / "lint-imports"


def lint(src: Path = SRC) -> subprocess.CompletedProcess:
    """`lint-imports` with the project's contracts over the package found in `src`."""
    env = os.environ | {"PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    proc = lint()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "4 kept, 0 broken" in proc.stdout, proc.stdout[-2000:]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("tasks/base.py", "from labelsmooth.analysis import verdicts", "Layers"),  # a lower layer up
        ("run/resume.py", "import labelsmooth.analysis.report", "never import the claims engine"),
        ("smoothing/terms.py", "import pytorch_lightning", "the math"),
        ("smoothing/base.py", "from labelsmooth.atomic import write_atomic", "the math"),
        ("data/cache.py", "from labelsmooth.data import squad", "No import cycle"),  # squad imports cache
    ],
)
def test_each_contract_catches_its_breach(tmp_path, module, line, broken):
    """The same contracts over a copy of the package with one import added: that contract breaks."""
    copy = tmp_path / "src"
    shutil.copytree(SRC / "labelsmooth", copy / "labelsmooth", ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "labelsmooth" / module
    target.write_text(target.read_text() + f"\n\ndef _breach():\n    {line}\n")
    proc = lint(copy)
    assert proc.returncode != 0, proc.stdout[-2000:]
    verdicts = " ".join(proc.stdout.split("Broken contracts")[0].split())  # lint-imports wraps long names
    broken_names = [
        x.strip() for x in verdicts.replace(" KEPT", " KEPT\n").replace(" BROKEN", " BROKEN\n").splitlines()
    ]
    assert [x for x in broken_names if broken in x and x.endswith("BROKEN")], broken_names


def test_at_most_five_modules_at_the_package_root():
    root_modules = sorted(p.name for p in (SRC / "labelsmooth").glob("*.py"))
    assert 0 < len(root_modules) <= 5, root_modules


def test_every_torch_load_in_src_is_weights_only():
    calls = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                weights_only = {k.arg: k.value for k in node.keywords}.get("weights_only")
                ok = isinstance(weights_only, ast.Constant) and weights_only.value is True
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", ok))
    assert calls, "no torch.load found: the scan looks at the wrong files"
    assert [where for where, ok in calls if not ok] == []


@pytest.mark.slow
@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("0", "0")])
def test_the_package_sets_torchs_huge_page_flag_before_torch_loads(given, expected):
    """c10 reads THP_MEM_ALLOC_ENABLE once, at torch's first allocation: `import labelsmooth` must set it
    without importing torch first (a torch import added to the package root would disable it silently),
    and keep a value the user set."""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    code = "import os, sys, labelsmooth; print('torch' in sys.modules, os.environ['THP_MEM_ALLOC_ENABLE'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", expected]
