"""Checks of the command line itself, before any job starts (a Hydra callback, conf/hydra/default.yaml): a key
given twice, a control character in a value that reaches a script or a command line, a SLURM launcher
asked for -1 GPUs or tasks."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from labelsmooth.run.settings import flatten


def repeated_key(overrides: Sequence[str]) -> str | None:
    """The error line for the first key given twice among `overrides`, or None. Hydra keeps only the last
    value of a key, without a word: `-m seed=1,2 seed=3` runs one job, `seed=1 seed=3` runs seed 3."""
    seen: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        package = "" if override.package is None else f"@{override.package}"
        key = f"{override.key_or_group}{package}"
        if key in seen:
            both = f"{seen[key]} {override.input_line}"
            return (
                f"{both}: {key} is given twice on the command line; expected each key once "
                f"(Hydra would silently keep only {override.input_line})"
            )
        seen[key] = override.input_line
    return None


class RepeatedKeyCheck(Callback):
    """Hydra callback (conf/hydra/default.yaml): refuses a key given twice on the command line, or a value
    with a control character (`control_character`), in a single run and in a multirun, before any job
    starts. Only here are the raw overrides all visible: a job of a
    multirun sees its own, already expanded. Hydra turns what a callback raises into a warning and goes on,
    so this one prints its line and exits (status 2, a usage error), with no traceback."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _exit_on_repeated_key(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _exit_on_repeated_key(config)


def control_character(config: DictConfig) -> str | None:
    """One line naming a value that holds a control character (a newline, a tab, …) where it would reach a
    script or a command line: any command-line override, and every value of the launcher's config, which
    submitit writes into the sbatch script (a newline there runs the rest as a shell line on the node and
    drops the #SBATCH lines after it)."""
    launcher = (
        OmegaConf.to_container(config.hydra.launcher, resolve=True) if "launcher" in config.hydra else {}
    )
    values = [(f"hydra.launcher.{k}", v) for k, v in flatten(launcher).items()]
    given = OmegaConf.to_container(config.hydra.overrides, resolve=False)  # as typed: `${oc.env:…}` kept
    values += [(o.partition("=")[0], o) for o in [*given["task"], *given["hydra"]]]
    for key, value in values:
        for text in value if isinstance(value, list) else [value]:  # a list: lines submitit writes (setup)
            if isinstance(text, str) and any(ord(c) < 32 or ord(c) == 127 for c in text):
                return f"{key}={text!r}: holds a control character (newline, tab, …); expected plain text"
    return None


def slurm_counts(config: DictConfig) -> str | None:
    """One line when a SLURM launcher would ask for -1 (or no number of) GPUs or tasks per node: they come
    from `trainer.devices`, and `trainer=ddp`'s -1 ("all of this machine's") means nothing to sbatch."""
    launcher = config.hydra.get("launcher") or {}
    if "Slurm" not in str(launcher.get("_target_", "")):
        return None
    for key in ("gpus_per_node", "tasks_per_node"):
        value = OmegaConf.select(config, f"hydra.launcher.{key}", throw_on_resolution_failure=False)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            return (
                f"hydra.launcher.{key}={value!r}: SLURM needs a number of GPUs (one task each) per node; "
                "set trainer.devices=N (trainer=ddp's -1, all of a machine's GPUs, is no count for sbatch)"
            )
    return None


def _exit_on_repeated_key(config: DictConfig) -> None:
    # The ranks Lightning starts for DDP (LOCAL_RANK 1…) rerun the command line with its own
    # `hydra.run.dir=…` appended, relying on the last value winning: not the user's line (rank 0 checked it).
    if int(os.environ.get("LOCAL_RANK") or 0) > 0:
        return
    # As typed: an interpolation resolved here would be parsed as override syntax.
    given = OmegaConf.to_container(config.hydra.overrides, resolve=False)
    checks = (
        control_character(config),
        slurm_counts(config),
        repeated_key([*given["task"], *given["hydra"]]),
    )
    if (line := next((c for c in checks if c is not None), None)) is not None:
        print(line, file=sys.stderr)
        raise SystemExit(2)
