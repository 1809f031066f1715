"""How large must a test set be? The test-sampling sd of a paired Δ at smaller test sets, from runs.

labelsmooth-claims test-set-size RUN_A RUN_B --metric test/f1 [--sizes 300 1000 3000] [--published 0.2]

RUN_A and RUN_B are two finished runs scored on the same test set (same seed, two configurations, e.g.
gls_seed0 and none_seed0). For each size n (the first n test items, as a smaller `data.n_test` would draw
them: the generators draw items in order), it prints the bootstrap sd of metric(A) − metric(B) over those
items: the noise a test set of n items adds to one seed's Δ. It shrinks as 1/√n; the seed noise does not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from labelsmooth.analysis.stats.items import Paired, hierarchical_bootstrap
from labelsmooth.analysis.test_items import read_items
from labelsmooth.run.sweeps import read_jobs


def noise_by_size(run_a: Path, run_b: Path, metric: str, sizes: list[int], replicates: int = 2000) -> dict:
    """{n: (Δ on the first n items, bootstrap sd of that Δ)} for the paired runs."""
    a, b = read_items(run_a), read_items(run_b)
    if a is None or b is None or a.unit != b.unit:
        raise SystemExit(f"{run_a}, {run_b}: need two runs with per-item scores of the same kind")
    out = {}
    for n in sizes:
        cols = {k: np.asarray(v)[:n, None] for k, v in a.columns.items() if k in b.columns}
        base = {k: np.asarray(b.columns[k])[:n, None] for k in cols}
        if len(next(iter(cols.values()))) < n:
            continue
        paired = Paired(a.unit, metric, metric, cols, base)
        boot = hierarchical_bootstrap(paired, replicates, seed=0)
        out[n] = (float(paired.deltas(np.ones((1, n)))[0, 0]), boot.sd_items)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs=2, type=Path, metavar="RUN")
    parser.add_argument("--metric", required=True)
    parser.add_argument("--sizes", nargs="+", type=int, default=[300, 1000, 2000, 3000, 5000])
    parser.add_argument("--published", type=float, help="the published Δ, to print sd / Δ")
    args = parser.parse_args(argv)
    for run in args.runs:
        read_jobs([run.parent], warn=lambda line: None)  # fails clearly on a folder that is no sweep
    print(
        f"| test items | Δ {args.metric} | test-sampling sd of Δ |"
        + (" sd / published Δ |" if args.published else "")
    )
    print("|---|---|---|" + ("---|" if args.published else ""))
    for n, (delta, sd) in noise_by_size(*args.runs, args.metric, args.sizes).items():
        ratio = f" {sd / abs(args.published):.2f} |" if args.published else ""
        print(f"| {n} | {delta:+.3f} | {sd:.3f} |{ratio}")


if __name__ == "__main__":
    main()
