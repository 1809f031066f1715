"""Published claims: run their sweeps, store the finished jobs, write RESULTS.md's claims tables.

labelsmooth-claims run C1 [C2 ...] [--seeds 0-4] [--until-decided --max-seeds M] [--batch K]
    [--budget-minutes X] [-- HYDRA_OVERRIDES ...]     # e.g. -- hydra/launcher=joblib hydra.launcher.n_jobs=2
labelsmooth-claims collect SWEEP [FOLDER ...]   # finished jobs -> results/SWEEP.jsonl.gz
labelsmooth-claims report [--check]             # the tables between RESULTS.md's markers

The claims are experiments/claims.yaml (what each says, its source, the published Δ, the stand-ins, the
metric and direction); the jobs are experiments/results/<sweep>.jsonl.gz (collected from run folders,
never typed); `report` recomputes every verdict from those files in seconds, without training, and
`report --check` fails when RESULTS.md's tables differ from it (tests/test_labelsmooth-claims runs it).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from labelsmooth.analysis import claims_file
from labelsmooth.analysis.report import FIGURE, committed_table, evaluate, render, splice
from labelsmooth.analysis.results_store import collect
from labelsmooth.analysis.runner import claim_metrics, needs_gap, run
from labelsmooth.analysis.verdict_figure import plot_verdicts
from labelsmooth.atomic import write_atomic
from labelsmooth.run.provenance import project_root

# The defaults: the checkout's experiments/ (or the current folder's, for an installed copy).
ROOT = project_root()
CLAIMS = ROOT / "experiments" / "claims.yaml"
RESULTS_DIR = ROOT / "experiments" / "results"
RESULTS_MD = ROOT / "experiments" / "RESULTS.md"
OUTPUTS = ROOT / "outputs" / "claims"


def parse_seeds(text: str) -> list[int]:
    """`0-4`, `5,6,7` or a mix (`0-2,7`) → the seeds in order."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, dash, high = part.partition("-")
            seeds += list(range(int(low), int(high) + 1)) if dash else [int(low)]
    except ValueError:
        raise SystemExit(f"--seeds {text}: expected seeds like 0-4 or 0,1,2") from None
    return list(dict.fromkeys(seeds))


def results_folder(results: Path) -> Path:
    """The results folder to read, which must exist (a mistyped --results would report no results)."""
    if not results.is_dir():
        raise SystemExit(f"--results {results}: no such results folder")
    return results


def report_text(claims: Path = CLAIMS, results: Path = RESULTS_DIR) -> str:
    """The generated block of RESULTS.md for these claims and results."""
    results_folder(results)
    cf = claims_file.load(claims)
    return render(cf, evaluate(cf, results), results)


# Commands over sweep folders or results files, outside the claims file: their own arguments.
TOOLS = {
    "verdicts": "labelsmooth.analysis.verdicts",
    "summarise": "labelsmooth.analysis.summarise",
    "plot-grid": "labelsmooth.analysis.plot_grid",
    "test-set-size": "labelsmooth.analysis.test_set_size",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in TOOLS:
        importlib.import_module(TOOLS[argv[0]]).main(argv[1:])
        return 0
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=Path, default=CLAIMS, help="the claims file (default %(default)s)")
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help="compact results (default %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the sweeps of claims, in batches of seeds")
    p_run.add_argument("ids", nargs="+", metavar="CLAIM")
    p_run.add_argument("--seeds", type=parse_seeds, help="seeds to run first (default: the claim's seeds)")
    p_run.add_argument("--until-decided", action="store_true", help="add seeds until every verdict stops")
    p_run.add_argument(
        "--max-seeds", type=int, default=20, help="stop adding seeds here (default %(default)s)"
    )
    p_run.add_argument("--batch", type=int, help="seeds per batch (default: fill hydra.launcher.n_jobs)")
    p_run.add_argument("--budget-minutes", type=float, help="start no batch after this much wall time")
    p_run.add_argument("--outputs", type=Path, default=OUTPUTS, help="run folders (default %(default)s)")
    p_collect = sub.add_parser("collect", help="store a sweep's finished jobs in its results file")
    p_collect.add_argument("sweep", help="a sweep of the claims file (its results file is <sweep>.jsonl.gz)")
    p_collect.add_argument("folders", nargs="*", type=Path, help="default: outputs/claims/<sweep>/jobs")
    p_report = sub.add_parser("report", help="write RESULTS.md's claims tables")
    p_report.add_argument("--check", action="store_true", help="fail if RESULTS.md differs; write nothing")
    p_report.add_argument("--out", type=Path, default=RESULTS_MD, help="the document (default %(default)s)")
    args = parser.parse_args(argv)
    if extra and args.command != "run":
        parser.error("overrides after -- go with `run` only")
    cf = claims_file.load(args.claims)
    if args.command == "run":
        if args.max_seeds < 2:
            parser.error("--max-seeds: a paired interval needs at least 2 seeds")
        run(
            cf,
            cf.select(args.ids),
            args.outputs.resolve(),
            args.results.resolve(),
            extra,
            args.seeds,
            args.until_decided,
            args.max_seeds,
            args.batch,
            args.budget_minutes,
        )
        return 0
    if args.command == "collect":
        if args.sweep not in cf.sweeps:
            raise SystemExit(f"{args.claims}: no sweep {args.sweep} (sweeps: {', '.join(cf.sweeps)})")
        folders = args.folders or [OUTPUTS / args.sweep / "jobs"]
        out = results_folder(args.results) / f"{args.sweep}.jsonl.gz"
        sweep, metrics = cf.sweeps[args.sweep], claim_metrics(cf, args.sweep)
        total = collect(
            folders, out, [sweep.key], metrics, needs_gap(cf, args.sweep), pool=sweep.pool_commits
        )
        print(f"{out}: {total} jobs")
        return 0
    verdicts = evaluate(cf, results_folder(args.results))
    table = render(cf, verdicts, args.results)
    if not args.out.is_file():
        raise SystemExit(f"{args.out}: no such file")
    document = args.out.read_text()
    if args.check:
        if committed_table(document) != table:
            print(
                f"{args.out}: its claims tables differ; rerun `labelsmooth-claims report`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out}: claims tables up to date")
        return 0
    write_atomic(args.out, splice(document, table, str(args.out)))
    # The picture of the same rows, beside the document (RESULTS.md shows figures/verdicts.png).
    plot_verdicts(verdicts, args.out.parent / FIGURE)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
