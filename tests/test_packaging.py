"""The conda environment and pyproject.toml ask for the same packages, so both routes give one environment."""

import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalise(specs: list[str]) -> dict[str, str]:
    reqs = [Requirement(s) for s in specs]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def test_environment_pip_section_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _normalise(project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalise([s for s in pip if not s.startswith("-e")])
    torch_pin = listed.pop("torch")
    assert Requirement("torch" + wanted.pop("torch")).specifier.contains(torch_pin.lstrip("="))
    assert listed == wanted
    assert "-e ." in pip


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make run" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
