"""experiments/claims.yaml: published claims as data, read and checked (a bad entry → one line naming it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DIRECTIONS = ("higher", "lower", "equivalent")


@dataclass(frozen=True)
class Stage:
    """A sweep that must finish before the claim's own (distillation teachers)."""

    recipe: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Sweep:
    """One stand-in: a recipe, the overrides that size it, the key whose values are the configurations."""

    name: str
    recipe: str
    key: str
    stand_in: str
    overrides: tuple[str, ...] = ()
    before: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class Compare:
    config: str  # e.g. smoothing=gls
    delta: float | None  # the published Δ for this configuration (metric units, claimed sign)


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    paper: str
    table: str
    published: str  # the published numbers, as the source prints them
    units: str
    sweeps: tuple[str, ...]
    metric: str
    direction: str
    baseline: str
    compare: tuple[Compare, ...]
    baseline_metric: str | None = None
    margin: float | None = None  # equivalence margin (direction: equivalent)
    calibration: bool = False  # report the baseline's confidence gap
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class ClaimsFile:
    path: Path
    defaults: dict[str, Any]
    sweeps: dict[str, Sweep]
    claims: dict[str, Claim] = field(default_factory=dict)

    def select(self, ids: list[str]) -> list[Claim]:
        """The claims with these ids (all when none given); an unknown id stops with the known ones."""
        unknown = [i for i in ids if i not in self.claims]
        if unknown:
            raise SystemExit(f"{self.path}: no claim {unknown[0]} (claims: {', '.join(self.claims)})")
        return [self.claims[i] for i in ids] if ids else list(self.claims.values())


def _need(node: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(node, dict) or key not in node:
        raise SystemExit(f"{where}: missing key '{key}'")
    value = node[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise SystemExit(f"{where}.{key}: expected {names}, got {value!r}")
    return value


def _selector(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.count("=") != 1 or " " in value:
        raise SystemExit(f"{where}: expected one override KEY=VALUE (e.g. smoothing=gls), got {value!r}")
    return value


def _sweep(name: str, node: dict, where: str) -> Sweep:
    before = tuple(
        Stage(_need(s, "recipe", str, f"{where}.before[{i}]"), tuple(s.get("overrides", [])))
        for i, s in enumerate(node.get("before", []))
    )
    return Sweep(
        name=name,
        recipe=_need(node, "recipe", str, where),
        key=_need(node, "key", str, where),
        stand_in=_need(node, "stand_in", str, where),
        overrides=tuple(_need(node, "overrides", list, where)) if "overrides" in node else (),
        before=before,
    )


def _claim(cid: str, node: dict, sweeps: dict[str, Sweep], where: str, seeds: list[int]) -> Claim:
    source, published = _need(node, "source", dict, where), _need(node, "published", dict, where)
    direction = _need(node, "direction", str, where)
    if direction not in DIRECTIONS:
        raise SystemExit(f"{where}.direction: expected one of {', '.join(DIRECTIONS)}, got {direction!r}")
    delta = published.get("delta")
    if delta is not None and (isinstance(delta, bool) or not isinstance(delta, int | float)):
        raise SystemExit(f"{where}.published.delta: expected a number or null, got {delta!r}")
    compare = []
    for i, entry in enumerate(_need(node, "compare", list, where)):
        if isinstance(entry, str):
            compare.append(Compare(_selector(entry, f"{where}.compare[{i}]"), delta))
        else:
            config = _selector(_need(entry, "config", str, f"{where}.compare[{i}]"), f"{where}.compare[{i}]")
            compare.append(Compare(config, entry.get("delta", delta)))
    if not compare:
        raise SystemExit(f"{where}.compare: expected at least one configuration")
    margin = node.get("margin")
    if direction == "equivalent" and not (isinstance(margin, int | float) and margin > 0):
        raise SystemExit(f"{where}.margin: an equivalence claim needs a margin > 0, got {margin!r}")
    names = _need(node, "sweeps", list, where)
    for name in names:
        if name not in sweeps:
            raise SystemExit(f"{where}.sweeps: no sweep {name!r} (sweeps: {', '.join(sweeps)})")
    baseline = _selector(_need(node, "baseline", str, where), f"{where}.baseline")
    for name in names:
        keys = {baseline.partition("=")[0], *(c.config.partition("=")[0] for c in compare)}
        if keys != {sweeps[name].key}:
            raise SystemExit(f"{where}: baseline and compare must set the sweep's key '{sweeps[name].key}'")
    return Claim(
        id=cid,
        text=_need(node, "text", str, where),
        paper=_need(source, "paper", str, f"{where}.source"),
        table=_need(source, "table", str, f"{where}.source"),
        published=_need(published, "text", str, f"{where}.published"),
        units=_need(published, "units", str, f"{where}.published"),
        sweeps=tuple(names),
        metric=_need(node, "metric", str, where),
        direction=direction,
        baseline=baseline,
        compare=tuple(compare),
        baseline_metric=node.get("baseline_metric"),
        margin=float(margin) if margin is not None else None,
        calibration=bool(node.get("calibration", False)),
        seeds=tuple(node.get("seeds", seeds)),
    )


def load(path: Path) -> ClaimsFile:
    """Read and check the claims file."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"{path}: no such claims file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SystemExit(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a mapping with keys defaults, sweeps, claims")
    defaults = _need(data, "defaults", dict, str(path))
    seeds = defaults.get("seeds", [0, 1, 2, 3, 4])
    sweeps = {
        name: _sweep(name, node, f"{path}: sweeps.{name}")
        for name, node in _need(data, "sweeps", dict, str(path)).items()
    }
    claims = {
        str(cid): _claim(str(cid), node, sweeps, f"{path}: claims.{cid}", seeds)
        for cid, node in _need(data, "claims", dict, str(path)).items()
    }
    return ClaimsFile(path, defaults, sweeps, claims)
