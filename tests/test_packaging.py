"""The install routes and the test command agree: conda's environment and pyproject.toml ask for the same
packages, CI runs exactly the README's test command, and `make test` installs, then runs the whole suite.
(What the docs may say is checked by behaviour in tests/test_readme.py, not by their wording.)"""

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _normalise(specs: list[str]) -> dict[str, str]:
    reqs = [Requirement(s) for s in specs]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def _expand(project: dict, specs: list[str]) -> list[str]:
    """`specs` with each self-reference (`labelsmooth[optuna,experiments]`) replaced by those extras' own
    requirements, recursively: what pip installs for them."""
    out: list[str] = []
    for spec in specs:
        req = Requirement(spec)
        if req.name.lower() != project["name"].lower():
            out.append(spec)
            continue
        for extra in sorted(req.extras):
            out += _expand(project, project["optional-dependencies"][extra])
    return out


def test_environment_pip_section_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _normalise(_expand(project, project["dependencies"] + project["optional-dependencies"]["dev"]))
    assert project["name"] not in wanted  # every self-reference expanded
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _normalise([s for s in pip if not s.startswith("-e")])
    torch_pin = listed.pop("torch")
    assert Requirement("torch" + wanted.pop("torch")).specifier.contains(torch_pin.lstrip("="))
    assert listed == wanted
    assert "-e ." in pip


def test_expanding_extras_follows_self_references():
    project = {
        "name": "labelsmooth",
        "optional-dependencies": {
            "a": ["x>=1"],
            "b": ["labelsmooth[a]", "y"],
            "dev": ["labelsmooth[b]", "z"],
        },
    }
    assert _expand(project, ["labelsmooth[dev]", "w"]) == ["x>=1", "y", "z", "w"]


def readme_test_command() -> str:
    """The command on the README line that says it is what CI runs."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if "(what CI runs)" in line]
    return line.split("#", 1)[0].strip()


def _commands(script: str) -> list[str]:
    """The commands of a shell script, less comments, blank lines and its set-up (`set`, `cd`)."""
    lines = [line.split("#", 1)[0].strip() for line in script.splitlines()]
    return [line for line in lines if line and shlex.split(line)[0] not in ("set", "cd")]


def test_ci_runs_exactly_the_readme_test_command():
    assert readme_test_command() == "make test"
    assert _commands((ROOT / ".ci" / "run").read_text()) == [readme_test_command()]


def _make_rule(target: str) -> tuple[list[str], list[str]]:
    """(prerequisites, recipe lines) of a Makefile target."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.MULTILINE)
    assert match, f"no rule for {target}"
    return match.group(1).split(), [line.strip() for line in match.group(2).splitlines()]


def test_make_test_installs_then_runs_the_whole_suite():
    """`make test` installs on a fresh machine, then runs bare pytest, so pyproject's options are those: two
    pytest-xdist workers, the slowest tests listed, no selection (the slow tests too)."""
    prerequisites, recipe = _make_rule("test")
    assert prerequisites == ["install"]
    assert recipe == ["$(PY) -m pytest"]  # no selection: the whole suite, pyproject's testpaths
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    options = shlex.split(pytest_ini["addopts"])
    assert options[options.index("-n") + 1] == "2"
    assert any(o.startswith("--durations=") for o in options)
    assert pytest_ini["testpaths"] == ["tests"] and "-m" not in options  # the slow tests too
