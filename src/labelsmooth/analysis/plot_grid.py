"""Heatmaps of a 2-D sweep: the mean over seeds of each metric per (x, y) cell, metrics side by side.

labelsmooth-claims plot-grid SWEEP_DIR [SWEEP_DIR ...] --x smoothing.alpha --y smoothing.sigma \
    --metrics test/f1 test/ece [--out FILE.png]

x and y are config keys: read from each job's overrides, else from its `.hydra/config.yaml`. Jobs without
metrics.json are skipped with a warning. The PNG goes into the (first) sweep folder, named
`grid_<y>_by_<x>.png`, unless --out says otherwise; its path is printed.
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure  # object API with the Agg canvas: no pyplot global state

from labelsmooth.analysis.metric_names import lower_is_better
from labelsmooth.atomic import atomic_file
from labelsmooth.run.sweeps import Job, read_jobs


def _sort_key(v):
    return (0, v, "") if isinstance(v, int | float) and not isinstance(v, bool) else (1, 0, str(v))


def grid_means(
    jobs: list[Job], x: str, y: str, metric: str
) -> tuple[list, list, list[list[float | None]], list[list[int]]]:
    """(x values, y values, means[y][x] or None, counts[y][x]) of `metric` over the jobs (seeds)."""
    cells: dict[tuple, list[float]] = defaultdict(list)
    xs, ys = set(), set()
    for job in jobs:
        xv, yv = job.value(x), job.value(y)
        if xv is None or yv is None:
            raise SystemExit(f"{job.folder}: no value for {x if xv is None else y} (overrides or config)")
        xs.add(xv)
        ys.add(yv)
        if metric in job.metrics:
            cells[xv, yv].append(job.metrics[metric])
    xs, ys = sorted(xs, key=_sort_key), sorted(ys, key=_sort_key)
    means = [[statistics.fmean(cells[xv, yv]) if cells[xv, yv] else None for xv in xs] for yv in ys]
    counts = [[len(cells[xv, yv]) for xv in xs] for yv in ys]
    return xs, ys, means, counts


def plot_grid(jobs: list[Job], x: str, y: str, metrics: list[str], out: Path) -> Path:
    """One heatmap per metric, side by side, annotated with the mean and the number of seeds."""
    fig = Figure(figsize=(4.2 * len(metrics), 3.6), layout="constrained")
    for i, metric in enumerate(metrics):
        xs, ys, means, counts = grid_means(jobs, x, y, metric)
        ax = fig.add_subplot(1, len(metrics), i + 1)
        data = [[float("nan") if m is None else m for m in row] for row in means]
        # Reversed for lower-is-better metrics, so "better" is always the same colour.
        cmap = "viridis_r" if lower_is_better(metric) else "viridis"
        image = ax.imshow(data, origin="lower", aspect="auto", cmap=cmap)
        fig.colorbar(image, ax=ax, shrink=0.85)
        ax.set_xticks(range(len(xs)), [str(v) for v in xs])
        ax.set_yticks(range(len(ys)), [str(v) for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(f"{metric} (mean over seeds)")
        for r, row in enumerate(means):
            for c, m in enumerate(row):
                text = "–" if m is None else f"{m:.3g}\nn={counts[r][c]}"
                ax.text(c, r, text, ha="center", va="center", fontsize=8, color="white")
    with atomic_file(out) as f:
        fig.savefig(f, format="png", dpi=100)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dirs", type=Path, nargs="+", metavar="SWEEP_DIR")
    parser.add_argument("--x", required=True, help="config key on the horizontal axis, e.g. smoothing.alpha")
    parser.add_argument("--y", required=True, help="config key on the vertical axis, e.g. smoothing.sigma")
    parser.add_argument("--metrics", nargs="+", required=True, help="flat keys of metrics.json")
    parser.add_argument("--out", type=Path, help="PNG file (default: in the first sweep folder)")
    args = parser.parse_args(argv)
    jobs = read_jobs(args.sweep_dirs)
    if not jobs:
        raise SystemExit("no finished jobs (no metrics.json) in " + " ".join(map(str, args.sweep_dirs)))
    missing = [m for m in args.metrics if not any(m in j.metrics for j in jobs)]
    if missing:
        raise SystemExit(f"no finished job reports {', '.join(missing)}")
    name = f"grid_{args.y}_by_{args.x}.png".replace("/", "_")
    print(plot_grid(jobs, args.x, args.y, args.metrics, args.out or args.sweep_dirs[0] / name))


if __name__ == "__main__":
    main()
