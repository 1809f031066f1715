"""Cost of the calibration estimators against the evaluation they belong to, on the default NER run.

`python benchmarks/bench_calibration_cost.py [--rounds 3] [--split test]` builds the default NER task from the
real config (embedded CoNLL-format data, MiniLM; the weights as loaded, since the cost does not depend on
what the model learnt), runs `trainer.test` (forward passes, gathering, decoding, the F1 scores, every
calibration level's estimators, the item files) in `--rounds` rounds, and times in the same rounds on the
same outputs (a) every estimator of every level (`level_metrics`: what each evaluation adds to metrics.json)
and (b) the reliability diagrams' consistency bands (what the final validate/test adds). It prints medians
with their ranges and the ratio (a) / evaluation and (a + b) / evaluation. Target: (a) < 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from labelsmooth.metrics.estimators import consistency_bands
from labelsmooth.metrics.levels import level_metrics

ROOT = Path(__file__).resolve().parents[1]


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.3f} s ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="small data and model (tests)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        overrides = ["task=ner", f"paths.data_dir={tmp}", f"paths.output_dir={tmp}"]
        if args.tiny:
            overrides += ["model=tiny", "data.n_train=16", "data.n_val=8", "data.n_test=16"]
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            cfg = compose("config", overrides)
        datamodule = instantiate(cfg.task.datamodule)
        module = instantiate(cfg.task.module)
        trainer = pl.Trainer(
            accelerator="cpu",
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=tmp,
        )
        evaluation, estimators, bands = [], [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            trainer.test(module, datamodule=datamodule, verbose=False)
            evaluation.append(time.perf_counter() - start)
            levels = module.eval_results["test"][1].levels
            start = time.perf_counter()
            level_metrics(levels)
            estimators.append(time.perf_counter() - start)
            start = time.perf_counter()
            for level in levels.values():
                consistency_bands(level.confidence_and_correct()[0])
            bands.append(time.perf_counter() - start)
    items = {name: len(level.confidence_and_correct()[1]) for name, level in levels.items()}
    print(f"NER test pass, {args.threads} thread(s); items per level: {items}")
    print(f"evaluation (trainer.test)     {_spread(evaluation)}")
    print(f"estimators, every level       {_spread(estimators)}")
    print(f"consistency bands (diagrams)  {_spread(bands)}")
    ratios = [e / t for e, t in zip(estimators, evaluation, strict=True)]
    both = [(e + b) / t for e, b, t in zip(estimators, bands, evaluation, strict=True)]
    print(
        f"estimators / evaluation       {100 * statistics.median(ratios):6.2f} % "
        f"({100 * min(ratios):.2f}–{100 * max(ratios):.2f}); target < 5 %"
    )
    print(
        f"+ bands / evaluation          {100 * statistics.median(both):6.2f} % "
        f"({100 * min(both):.2f}–{100 * max(both):.2f})"
    )


if __name__ == "__main__":
    main()
