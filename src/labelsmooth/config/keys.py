"""Checks of single config values whose meaning the key alone tells: path-valued keys, the trainer's step,
batch and clipping limits, and the QA module's decoding knobs. Each bad value: one line naming its key.

Split from checks.py (which calls these from `check_config`), so each module keeps to one job.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

# The rule for path-valued keys: a key whose name is `dir`, `dirpath`, `path` or `file`, or ends in one of
# them after an underscore (data.dir, task.datamodule.cache_dir, paths.output_dir, callbacks.*.dirpath,
# ckpt_path, data.train_file, model.name_or_path, a recipe's distill_dir). The `hydra` node is Hydra's own.
PATH_NAME = re.compile(r"(^|_)(dir|dirpath|path|file)$")
# What Hydra hands over as a string where a path was meant: `key=None` is the string 'None' in its override
# grammar (only `null` is None), and `key=` is ''. Each would become a folder or file of that name.
NOT_A_PATH = ("", "none", "null")


def integer(key: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    """An int (not a bool) in [minimum, maximum]; else one line naming the key."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key}={value!r}: expected an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{key}={value!r}: expected an integer in [{minimum}, {maximum}]")


def is_number(value: Any) -> bool:
    """A finite int or float (a bool is not a number here, nan and inf are not finite)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- path-valued keys -----------------------------------------------------------------------------------
def path_keys(node: Mapping, prefix: str = "") -> Iterator[str]:
    """Dotted names of the path-valued keys (PATH_NAME) of `node`'s mappings, as written (unresolved): a
    node interpolated from another (`source: ${data}`) is checked where it is defined, not twice."""
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from path_keys(value, f"{name}.")
        elif isinstance(key, str) and PATH_NAME.search(key):
            yield name


def check_paths(cfg: DictConfig) -> None:
    """Every path-valued key (PATH_NAME) holds a path, or null where null has a meaning of its own
    (`cache_dir: null` = no cache, `ckpt_path: null` = start afresh, `data.test_file: null` = SQuAD's dev
    set; see `null_refused`); a key of the `paths` group, the lab's folders, always holds a path."""
    raw = OmegaConf.to_container(cfg, resolve=False)
    for key in path_keys({k: v for k, v in raw.items() if k != "hydra"}):
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=True)
        except MissingMandatoryValue:
            raise ValueError(f"{key}: missing (???); expected a path: {key}=…") from None
        except OmegaConfBaseException as err:  # e.g. ${oc.env:X} unset, or ??? behind an interpolation
            raise ValueError(f"{key}: cannot resolve it ({str(err).splitlines()[0]})") from None
        if value is None and not key.startswith("paths."):
            if (problem := null_refused(cfg, key)) is None:
                continue
        else:
            problem = path_problem(value)
        if problem is not None:
            shown = "null" if value is None else repr(value)
            raise ValueError(f"{key}={shown}: expected a path; {problem}")


def null_refused(cfg: DictConfig, key: str) -> str | None:
    """Why `key` may not be null, or None. Null has a meaning where the object its node builds takes None
    for that argument (default None, or None in its annotation: `SquadFiles(test_file=None)` tests on dev,
    `ModelCheckpoint(dirpath=None)` picks its own folder); a constructor that wants a string would fail
    on None only when it runs (`ConllFiles(val_file=None)`). A key of no `_target_` node (`ckpt_path`), or
    one its constructor does not take (a `+data.base_dir` helper for interpolations), the lab reads itself."""
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if target is None:
        return None
    builder = get_object(target)
    param = inspect.signature(builder).parameters.get(name)
    if param is None or param.default is None or "None" in str(param.annotation):
        return None
    return f"{target} takes no null for {name} (a file or folder name is expected)"


def path_problem(value: Any) -> str | None:
    """Why `value` is no path, or None. Hydra's grammar reads `key=None` as the string 'None' (only `null`
    is None) and `key=` as ''; a null interpolated into a string (`${paths.data_dir}/x`) becomes 'None/x'.
    Each would otherwise be a folder of that name, created where the run starts."""
    if value is None:
        return "null names no folder here"
    if not isinstance(value, str):
        return f"got {type(value).__name__}"
    if value.strip().lower() in NOT_A_PATH:
        return "that string names no folder (null, unquoted, leaves a key unset where it may be)"
    if any(part in ("None", "null") for part in re.split(r"[/\\]", value)):
        return "a part 'None' or 'null' is a null put into it by an interpolation, or a typo"
    return None


# --- the trainer ----------------------------------------------------------------------------------------
def check_batch_limit(split: str, value: Any) -> None:
    """`trainer.limit_<split>_batches`: null, an int >= 1 or a fraction in (0, 1]. 0 runs the split on no
    batch, which Lightning accepts without a word (a run then "finishes" untrained or unscored)."""
    if value is None:
        return
    if isinstance(value, float) and not isinstance(value, bool) and 0.0 < value <= 1.0:
        return
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return
    why = "trained" if split == "train" else "scored"
    raise ValueError(
        f"trainer.limit_{split}_batches={value!r}: the run is {why} on {split}; expected an integer >= 1 "
        "or a fraction in (0, 1]"
    )


def check_max_steps(value: Any) -> None:
    """`trainer.max_steps` of a run that trains: -1 (no limit) or >= 1. 0 trains nothing, and the untrained
    model's scores would be written as a finished result."""
    if value == -1 and not isinstance(value, bool):
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"trainer.max_steps={value!r}: the run trains; expected -1 (no limit) or an integer >= 1"
        )


def check_trainer(trainer: Mapping[str, Any], train: bool) -> None:
    """The trainer keys that Lightning takes silently in a sense the run would not mean."""
    if train:
        # The LR schedule needs a finite number of steps: -1 (Lightning's "forever") cannot be warmed up.
        integer("trainer.max_epochs", trainer.get("max_epochs"), 1)
        check_max_steps(trainer.get("max_steps", -1))
        check_batch_limit("train", trainer.get("limit_train_batches"))
    # Lightning divides by it (estimated_stepping_batches) long after the data and model are built.
    integer("trainer.accumulate_grad_batches", trainer.get("accumulate_grad_batches", 1), 1)
    for split in ("val", "test"):  # metrics.json holds val and test scores: a split never run has none
        check_batch_limit(split, trainer.get(f"limit_{split}_batches"))
    # Lightning clips only above 0: a negative value would silently mean no clipping at all.
    clip = trainer.get("gradient_clip_val")
    if clip is not None and not (is_number(clip) and clip >= 0):
        raise ValueError(
            f"trainer.gradient_clip_val={clip!r}: expected a finite number >= 0 (0 or null: no clipping)"
        )


# --- the QA module's decoding (metrics/qa_postprocess.py) -------------------------------------------------
def check_qa_decoding(module: Mapping[str, Any]) -> None:
    """n_best, max_answer_length and null_score_diff_threshold, where the module has them: postprocess()
    refuses the first two only after a training epoch, naming its own arguments, and with a nan threshold
    every question abstains without a word (`null − best <= nan`, the test for answering, is never true)."""
    for key in ("n_best", "max_answer_length"):
        if key in module:
            integer(f"task.module.{key}", module[key], 1)
    if "null_score_diff_threshold" in module:
        threshold = module["null_score_diff_threshold"]
        if not is_number(threshold):
            raise ValueError(
                f"task.module.null_score_diff_threshold={threshold!r}: expected a finite number (answer "
                "unless the null score exceeds the best span's by more than it)"
            )
