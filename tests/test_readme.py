"""The docs say what the checkout has: every relative link resolves (anchors too), README.md's config-group
table is the folders and files of conf/ (and what `python run.py --help` prints), README.md stays short."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT, entry_env
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

README = ROOT / "README.md"
CONF = ROOT / "conf"
MAX_README_LINES = 120
# The documents whose links must resolve.
DOCUMENTS = [
    README,
    ROOT / "CONTRIBUTING.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "experiments" / "README.md",
    ROOT / "experiments" / "RESULTS.md",
]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE = re.compile(r"`[^`\n]*`")
LAUNCHER = "hydra/launcher"


def _prose(text: str) -> str:
    """Markdown without code blocks and inline code, where a `[x](y)` is not a link."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = CODE.sub(lambda m: m.group(0)[1:-1], heading.strip()).lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings, with GitHub's -1, -2 … for repeated ones."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    return LINK.findall(_prose(path.read_text()))


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    assert document.is_file(), f"{document} is missing"
    broken = []
    for target in links(document):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not a file of the checkout
            continue
        file_part, _, anchor = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        if not path.exists():
            broken.append(f"{target} (no {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        elif anchor and (path.suffix != ".md" or anchor not in anchors(path)):
            broken.append(f"{target} (no heading #{anchor} in {path.relative_to(ROOT)})")
    assert not broken, f"{document.relative_to(ROOT)}: broken links: {broken}"


def test_slug_follows_github():
    assert slug("Verdicts") == "verdicts"
    assert slug("Paper scale (GPU)") == "paper-scale-gpu"
    assert slug("α/σ heatmaps") == "ασ-heatmaps"
    assert slug("The columns of RESULTS.md's verdict table") == "the-columns-of-resultsmds-verdict-table"
    assert slug("Resume, evaluate, predict, export") == "resume-evaluate-predict-export"
    assert slug("W&B") == "wb"


def readme_groups() -> dict[str, list[str]]:
    """README.md's config-group table (section "Config groups"): group -> its options, as listed."""
    text = README.read_text()
    section = text.split("\n## Config groups\n", 1)[1].split("\n## ", 1)[0]
    groups: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or not cells[0].startswith("`"):
            continue  # not a row, or the header / separator
        (group,) = re.findall(r"`([^`]+)`", cells[0])
        assert group not in groups, f"README.md lists config group {group} twice"
        groups[group] = re.findall(r"`([^`]+)`", cells[1])
    assert groups, "README.md: no config-group table under '## Config groups'"
    return groups


def conf_groups() -> dict[str, list[str]]:
    """The folders of conf/ and the options (YAML files) in each."""
    return {d.name: sorted(p.stem for p in d.glob("*.yaml")) for d in sorted(CONF.iterdir()) if d.is_dir()}


def hydra_launchers() -> list[str]:
    """Every option of hydra/launcher that Hydra finds: conf/hydra/launcher/ and the installed plugins."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return GlobalHydra.instance().config_loader().get_group_options(LAUNCHER)
    finally:
        GlobalHydra.instance().clear()


def test_readme_lists_the_config_groups_of_conf():
    listed = readme_groups()
    launchers = listed.pop(LAUNCHER, None)
    assert set(listed) == set(conf_groups()), "README.md's config groups are not the folders of conf/"
    for group, options in conf_groups().items():
        assert sorted(listed[group]) == options, f"README.md's options of {group} are not conf/{group}/*.yaml"
    assert launchers is not None, f"README.md does not list {LAUNCHER}"
    ours = {p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml")}
    assert ours | {"basic"} <= set(launchers), f"README.md's {LAUNCHER} misses {ours | {'basic'}}"
    assert set(launchers) <= set(hydra_launchers()), f"README.md lists a {LAUNCHER} Hydra does not have"


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; keep it to {MAX_README_LINES} (docs/)"


@pytest.mark.slow
def test_run_py_help_lists_every_config_group():
    """`python run.py --help`, as the README says, from the checkout: it exits 0 and prints every group of
    README.md's table (but Hydra's own) with the same options."""
    proc = subprocess.run(
        [sys.executable, "run.py", "--help"],
        cwd=ROOT,
        env=entry_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    section = proc.stdout.split("== Configuration groups ==", 1)[1].split("== Config ==", 1)[0]
    printed = {}
    for line in section.splitlines():
        name, colon, options = line.partition(":")
        if colon and name.strip() and " " not in name.strip():
            printed[name.strip()] = sorted(o.strip() for o in options.split(","))
    documented = {g: sorted(o) for g, o in readme_groups().items() if g.split("/")[0] != "hydra"}
    assert printed == documented
