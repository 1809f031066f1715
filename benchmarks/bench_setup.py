"""Set-up time of a sweep job's data: tokenising every split (job 1) vs reading the cached features (jobs 2…).

`python benchmarks/bench_setup.py [--task ner|qa] [--rounds 3]` builds the task's data module from the real
config (embedded data, the default encoder's tokenizer) and times `prepare_data() + setup()` with an empty
features cache and then with the cache the first call left, in the same run; it prints medians and ranges.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

ROOT = Path(__file__).resolve().parents[1]


def setup_seconds(task: str, data_dir: Path, features: Path, extra: list[str]) -> float:
    overrides = [f"task={task}", f"paths.data_dir={data_dir}", "paths.output_dir=.", *extra]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", [*overrides, f"task.datamodule.cache_dir={features}"])
    datamodule = instantiate(cfg.task.datamodule)
    start = time.perf_counter()
    datamodule.prepare_data()
    datamodule.setup("fit")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("ner", "qa"), default="ner")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="small data (tests)")
    args = parser.parse_args()
    extra = {"ner": ["data.n_train=64"], "qa": ["data.n_paragraphs_train=8"]}[args.task] if args.tiny else []
    cold, warm = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        setup_seconds(args.task, data, Path(tmp) / "warm-up", extra)  # the synthetic data, generated once
        for r in range(args.rounds):
            features = Path(tmp) / f"features{r}"
            cold.append(setup_seconds(args.task, data, features, extra))
            warm.append(setup_seconds(args.task, data, features, extra))
    for name, values in (("tokenise (job 1)", cold), ("cached (jobs 2…)", warm)):
        spread = f"({min(values):.3f}–{max(values):.3f})"
        print(f"{args.task} {name:<17} {statistics.median(values):7.3f} s  {spread}")
    ratio = statistics.median(warm) / statistics.median(cold)
    print(f"set-up time ratio (cached / tokenise): {ratio:.2f}")


if __name__ == "__main__":
    main()
