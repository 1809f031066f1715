"""The one list of settings that never change a result, for every reader that compares runs.

A resume compares its settings with the checkpoint's (run/folder.py), the sweep readers group jobs into
configurations by their overrides (run/sweeps.py), and the results store checks that pooled jobs share
their fixed settings (analysis/results_store.py): all three skip exactly these keys. They say where
things are written and logged, how a run is started and watched, and how often last.ckpt is saved; the
callbacks only observe (plots, the learning-rate log, a test's drill) — except RESULT_CALLBACKS, which
choose the best checkpoint, carry the smoothing, stop early or rescale the logits.
"""

from __future__ import annotations

NEUTRAL = (
    "ckpt_path",
    "train",
    "rerun",
    "resume_changed",
    "paths",
    "logger",
    "hydra",
    "optimized_metric",
    "callbacks",
    "trainer.log_every_n_steps",
    "trainer.enable_progress_bar",
)
RESULT_CALLBACKS = (
    "callbacks.model_checkpoint",
    "callbacks.smoothing",
    "callbacks.early_stopping",
    "callbacks.calibration",
)


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def neutral_key(key: str) -> bool:
    """Does a (dotted) config key never change a result?"""
    return _under(key, NEUTRAL) and not _under(key, RESULT_CALLBACKS)


def override_key(override: str) -> str:
    """The dotted key an override sets: `+a.b=1` → a.b, `~a` → a, `hydra/launcher=x` → hydra.launcher."""
    return override.lstrip("+~").partition("=")[0].replace("/", ".")


def neutral_override(override: str) -> bool:
    """Does this command-line override never change a result (`logger=csv`, `hydra.launcher.n_jobs=2`)?"""
    return neutral_key(override_key(override))
