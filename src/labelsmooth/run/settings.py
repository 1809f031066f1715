"""A resume's check of what it continues: this folder's own full checkpoint, trained with the same settings.

Settings are compared as they resolve (`${oc.env:…}` by its value, relative paths by where they point,
`pinned`), minus the result-neutral keys (run/neutral.py) and those placed under `paths.*`
(`placed_keys`: where a run writes or caches). `check_resume` stops with one line, before the folder is
touched, unless `resume_changed=true`; the `Resume` it returns is what metrics.json reports.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelsmooth.run.checkpoints import load_weights_only
from labelsmooth.run.folder import FolderRefused
from labelsmooth.run.neutral import neutral_key

log = logging.getLogger(__name__)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': value} of nested mappings; lists are values."""
    if not isinstance(node, Mapping):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def pinned(node: Any) -> Any:
    """`node` with every relative path that names an existing file or folder made absolute: a resume from
    another working directory compares where a path points (a KD teacher `outputs/…`), not its spelling."""
    if isinstance(node, Mapping):
        return {k: pinned(v) for k, v in node.items()}
    if isinstance(node, list):
        return [pinned(v) for v in node]
    if isinstance(node, str) and ("/" in node or node.startswith(".")) and not os.path.isabs(node):
        path = Path(node).expanduser()
        if path.exists():
            return str(path.resolve())
    return node


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def placed_keys(unresolved: Mapping[str, Any]) -> set[str]:
    """Keys whose value is placed under `paths.*` (`${paths.output_dir}/checkpoints`, the data cache): where
    a run writes or caches, as result-neutral as `paths` itself (run/neutral.py), whatever they resolve to."""
    raw = {k: v for k, v in flatten(unresolved).items() if isinstance(v, str)}
    placed: set[str] = set()
    while True:  # also what interpolates a placed key or a node holding one (`source: ${data}`)
        more = set()
        for key, value in raw.items():
            for ref in re.findall(r"\$\{([\w.]+)\}", value):
                if _under(ref, ("paths", *placed)):
                    more.add(key)
                more |= {key + p[len(ref) :] for p in placed if p.startswith(ref + ".")}
        if more <= placed:
            return placed
        placed |= more


def changed_settings(
    saved: Mapping[str, Any], now: Mapping[str, Any], placed: set[str] = frozenset()
) -> list[str]:
    """`key (old → new)` for every setting that differs and alters the result (resolved values; `placed`
    keys aside). A longer `trainer.max_epochs` is a change too: the LR schedule then differs from the one
    the run started with, so the result is not what either length alone would give."""
    old, new = flatten(saved), flatten(now)
    changes = []
    for key in sorted(set(old) | set(new)):
        if neutral_key(key) or key in placed or old.get(key) == new.get(key):
            continue
        changes.append(f"{key} ({old.get(key, '(unset)')} → {new.get(key, '(unset)')})")
    return changes


@dataclass
class Resume:
    """What a resume continues: the checkpoint and its step, the changed settings allowed with
    resume_changed=true, and the run's history so far (ExactResume's: the commits it trained on and its
    earlier resumes), which metrics.json reports."""

    checkpoint: str
    step: int
    changes: list[str]
    history: dict[str, list]

    def as_record(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint, "step": self.step, "changed_settings": self.changes}


def exact_resume_state(ckpt: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """ExactResume's state in a checkpoint (run settings, RNG states, commits), or None."""
    for name, state in (ckpt.get("callbacks") or {}).items():
        if str(name).startswith("ExactResume") and isinstance(state, Mapping):
            return state
    return None


def check_resume(
    ckpt_path: Path, folder: Path, now: Mapping[str, Any], placed: set[str], key: str, allowed: bool
) -> Resume:
    """A resume continues the run of `folder` from one of its own full checkpoints, with the settings it
    was trained with (unless `allowed`): anything else stops with one line, before the folder is touched."""
    own = folder / "checkpoints"
    if ckpt_path.resolve().parent != own.resolve():
        raise FolderRefused(
            f"{key}: {ckpt_path} is not a checkpoint of this run folder ({own}/): a resume continues the "
            "run in its own folder; resume it there (hydra.run.dir=<its folder>), evaluate it (train=false), "
            "or start a new run without ckpt_path"
        )
    ckpt = load_weights_only(ckpt_path, key)
    if not {"optimizer_states", "loops"} <= set(ckpt):
        raise ValueError(
            f"{key}: {ckpt_path} holds weights only (no optimiser or loop state): it can be evaluated "
            "(train=false), not resumed"
        )
    state = exact_resume_state(ckpt)
    if state is None or state.get("config") is None:
        raise ValueError(
            f"{key}: {ckpt_path} was not written by the lab's ExactResume (no run settings, RNG states or "
            "data position): it cannot be resumed exactly"
        )
    changes = changed_settings(state["config"], now, placed)
    if changes and not allowed:
        raise ValueError(
            f"{key}: the settings differ from those {ckpt_path} was trained with: {'; '.join(changes)}. "
            "Resume with them on purpose with resume_changed=true"
        )
    if changes:
        log.warning("%s: resuming with changed settings (resume_changed=true): %s", key, "; ".join(changes))
    history = {k: list(v) for k, v in (state.get("history") or {}).items()}
    return Resume(str(ckpt_path), int(ckpt.get("global_step", 0)), changes, history)
