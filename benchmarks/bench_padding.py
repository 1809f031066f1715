"""Padding fraction of training and evaluation batches: shuffled batches vs EpochBatchSampler's grouping.

`python benchmarks/bench_padding.py` prints, for NER and QA on the embedded data and for NER on
CoNLL-2003-like sentence lengths, the share of batch positions that are padding: with plain shuffled
batches (HF Trainer's default; evaluation in file order; QA windows padded to max_length, as before) and
with the lab's length-grouped, length-sorted batches (QA trimmed to each batch's longest window).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from labelsmooth.data.batching import EpochBatchSampler

ROOT = Path(__file__).resolve().parents[1]


def padding(lengths: np.ndarray, batches: list[list[int]], width: int | None = None) -> float:
    """1 − real tokens / batch positions, each batch padded to its longest item (or to `width`)."""
    used = sum(len(b) * (width or int(lengths[b].max())) for b in batches)
    return 1.0 - float(lengths.sum()) / used


def shuffled(n: int, batch_size: int, seed: int) -> list[list[int]]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return [b.tolist() for b in order.split(batch_size)]


def in_order(n: int, batch_size: int) -> list[list[int]]:
    return [b.tolist() for b in torch.arange(n).split(batch_size)]


def grouped(lengths: np.ndarray, batch_size: int, train: bool, seed: int) -> list[list[int]]:
    return list(EpochBatchSampler(len(lengths), batch_size, train, seed, lengths.tolist()))


def conll_like_lengths(n: int, seed: int) -> np.ndarray:
    """Sub-words per CoNLL-2003-like sentence: 1–120 words, most under 30 (log-normal, median ~11 words),
    ~1.3 sub-words a word, plus [CLS] and [SEP], cut at 128."""
    rng = np.random.default_rng(seed)
    words = np.clip(np.rint(rng.lognormal(np.log(11), 0.8, n)), 1, 120)
    return np.minimum(np.rint(words * 1.3) + 2, 128).astype(np.int64)


def report(name: str, lengths: np.ndarray, batch: int, eval_batch: int, fixed: int | None = None) -> None:
    before_train = padding(lengths, shuffled(len(lengths), batch, 0), fixed)
    before_eval = padding(lengths, in_order(len(lengths), eval_batch), fixed)
    after_train = padding(lengths, grouped(lengths, batch, True, 0))
    after_eval = padding(lengths, grouped(lengths, eval_batch, False, 0))
    print(
        f"{name:<34} train {100 * before_train:5.1f} % -> {100 * after_train:5.1f} %   "
        f"eval {100 * before_eval:5.1f} % -> {100 * after_eval:5.1f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small data (tests)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=ROOT / "data",
        help="where the embedded data and features are cached (default: the lab's, as run.py from the root)",
    )
    args = parser.parse_args()
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    sizes = ["data.n_train=64", "data.n_val=16", "data.n_test=16"] if args.tiny else []
    qa_sizes = ["data.n_paragraphs_train=8", "data.n_paragraphs_val=2", "data.n_paragraphs_test=2"]
    print("padding fraction of the batch positions: shuffled / file order  ->  grouped / sorted (the lab)")
    for task, extra in (("ner", sizes), ("qa", qa_sizes if args.tiny else [])):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            paths = [f"paths.data_dir={args.data_dir}", "paths.output_dir=."]
            cfg = compose("config", [f"task={task}", *paths, *extra])
        dm = instantiate(cfg.task.datamodule)
        dm.prepare_data()
        dm.setup("fit")
        lengths = np.asarray(dm.lengths("train"))
        width = cfg.task.datamodule.max_length if task == "qa" else None  # QA windows were padded to it
        report(f"{task} (embedded data, train split)", lengths, dm.batch_size, dm.eval_batch_size, width)
    report("ner (CoNLL-2003-like lengths)", conll_like_lengths(14_041, 0), 32, 64)


if __name__ == "__main__":
    main()
