"""labelsmooth.analysis.verdicts and .plot_grid on sweep folders written here by hand."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import CLAIMS_CMD

from labelsmooth.analysis.stats.seeds import paired_interval, t_quantile
from labelsmooth.analysis.verdict_rows import Row, compute, decide
from labelsmooth.run.sweeps import read_jobs


def make_job(folder: Path, overrides: list[str], metrics: dict | None, config: dict | None = None) -> Path:
    """A Hydra job folder: .hydra/overrides.yaml and config.yaml, and metrics.json unless metrics is None."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config or {"seed": 42}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics | {"best_checkpoint": "x.ckpt"}))
    return folder


def make_sweep(root: Path, values: dict[str, list[float]], metric: str = "test/f1") -> Path:
    """One job per (smoothing, seed): values[smoothing][seed] is the metric."""
    for smoothing, per_seed in values.items():
        for seed, value in enumerate(per_seed):
            overrides = ["experiment=x", f"smoothing={smoothing}", f"seed={seed}", "hydra.verbose=false"]
            make_job(root / f"{smoothing}_seed{seed}", overrides, {metric: value, "test/ece": 0.1})
    return root


def verdicts_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLAIMS_CMD, "verdicts", *args],
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.mark.parametrize(
    ("df", "expected"), [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262), (29, 2.045), (1000, 1.962)]
)
def test_t_quantile_matches_the_printed_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)


def verdict(low: float, high: float, claim: str) -> str:
    """The seed-t verdict alone (no per-item scores): supports / contradicts when [low, high] excludes 0,
    i.e. when its p-value is below the look's level (the interval at that level)."""
    excludes = low > 0 or high < 0
    row = Row("x", False, 2, [], 0.0, 0.0, ci_low=low, ci_high=high, mde=math.inf, delta=(low + high) / 2)
    row.look, row.look_alpha, row.p_value = 1, 0.05, 0.01 if excludes else 0.5
    decide(row, claim)  # no items_low (no per-item scores): judged on the seed-t interval
    return row.verdict


def test_paired_interval_by_hand():
    # diffs 1, 2, 3: mean 2, sd 1, half-width t(0.975, 2)·1/√3 = 4.3027/1.7321 = 2.4841
    mean, low, high = paired_interval([1.0, 2.0, 3.0])
    assert (mean, low, high) == pytest.approx((2.0, -0.4841, 4.4841), abs=1e-4)
    assert math.isnan(paired_interval([1.0])[1])
    assert verdict(0.1, 0.5, "higher") == "supports" and verdict(-0.5, -0.1, "higher") == "contradicts"
    assert verdict(-0.1, 0.5, "lower") == "inconclusive" and verdict(-0.5, -0.1, "lower") == "supports"
    assert (
        verdict(-0.2, 0.3, "not-lower") == "consistent" and verdict(-0.5, -0.1, "not-lower") == "contradicts"
    )


def test_clear_effect_supports_no_effect_inconclusive_reversed_contradicts(tmp_path):
    # Seeds move both configurations alike (pairing removes that); the effects are +1, ~0 and -1.
    base = [90.0, 92.0, 88.0, 91.0, 89.0]
    sweep = make_sweep(
        tmp_path / "sweep",
        {
            "none": base,
            "gls": [b + d for b, d in zip(base, [1.1, 0.9, 1.0, 1.2, 0.8], strict=True)],
            "ls": [b + d for b, d in zip(base, [0.3, -0.2, 0.1, -0.3, 0.1], strict=True)],
            "cp": [b + d for b, d in zip(base, [-1.1, -0.9, -1.0, -1.2, -0.8], strict=True)],
        },
    )
    out = verdicts_cli(
        str(sweep),
        "--baseline",
        "smoothing=none",
        "--metric",
        "test/f1",
        "--published-delta",
        "smoothing=gls:1.05",
        "--published-delta",
        "smoothing=cp:0.5",
        "--json",
        str(tmp_path / "v.json"),
    ).stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| smoothing")}
    assert "supports" in rows["smoothing=gls"] and "+1.00 [" in rows["smoothing=gls"]
    assert "inconclusive" in rows["smoothing=ls"]
    assert "contradicts" in rows["smoothing=cp"]
    assert "baseline" in rows["smoothing=none"] and "| 5 | 90.00 ± 1.58 |" in rows["smoothing=none"]
    assert "every job: `experiment=x`" in out and "Holm-adjusted" in out
    data = {r["configuration"]: r for r in json.loads((tmp_path / "v.json").read_text())["rows"]}
    gls = data["smoothing=gls"]
    assert gls["n_paired"] == 5 and gls["delta"] == pytest.approx(1.0)
    # sd of the diffs 0.1581…, t(0.975, 4) = 2.7764: half-width 0.1963
    assert (gls["ci_low"], gls["ci_high"]) == pytest.approx((0.8037, 1.1963), abs=1e-4)
    assert gls["published_in_ci"] is True and data["smoothing=cp"]["published_in_ci"] is False
    assert data["smoothing=ls"]["published_delta"] is None and data["smoothing=none"]["ci_low"] is None


def test_unfinished_jobs_are_skipped_with_one_warning_and_pairing_uses_common_seeds(tmp_path):
    sweep = make_sweep(tmp_path / "a", {"none": [90.0, 92.0, 88.0, 91.0], "gls": [91.0, 93.0, 89.0]})
    make_job(sweep / "gls_seed3", ["experiment=x", "smoothing=gls", "seed=3"], None)  # still running
    # A second sweep with a seed the baseline lacks.
    make_job(tmp_path / "b" / "gls_seed7", ["experiment=x", "smoothing=gls", "seed=7"], {"test/f1": 50.0})
    proc = verdicts_cli(
        str(sweep), str(tmp_path / "b"), "--baseline", "smoothing=none", "--metric", "test/f1"
    )
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [f"warning: skipping unfinished job {sweep / 'gls_seed3'} (no metrics.json)"]
    gls = next(line for line in proc.stdout.splitlines() if line.startswith("| smoothing=gls"))
    # 4 finished seeds (0, 1, 2, 7); paired on 0, 1, 2: every diff is exactly +1, so the CI is [1, 1]
    assert "| 4 |" in gls and "| 3 |" in gls and "+1.00 [+1.00, +1.00]" in gls and "supports" in gls
    assert "missing 3" in gls and "not in baseline 7" in gls


def test_baseline_must_match_one_configuration_and_cross_metric_comparison(tmp_path):
    sweep = make_sweep(tmp_path / "s", {"none": [1.0, 2.0], "ls": [1.5, 2.5]})
    jobs = read_jobs([sweep], warn=lambda line: None)
    with pytest.raises(SystemExit, match="matched none"):
        compute(jobs, ["smoothing=gls"], "test/f1")
    with pytest.raises(SystemExit, match="matched several"):
        compute(jobs, ["experiment=x"], "test/f1")
    # ECE after (test/f1 stands in) vs before (test/ece) temperature scaling, within the ls configuration
    rows = compute(jobs, ["smoothing=ls"], "test/f1", "not-lower", baseline_metric="test/ece", compare=[])
    ls = next(r for r in rows if r.configuration == "smoothing=ls")
    assert not ls.is_baseline and ls.delta == pytest.approx(1.9) and ls.verdict == "consistent"
    only = compute(jobs, ["smoothing=none"], "test/f1", compare=[["smoothing=none"]])
    assert [r.configuration for r in only] == ["smoothing=none"]


def test_plot_grid_writes_heatmaps_of_a_2x2_sweep(tmp_path):
    sweep = tmp_path / "grid"
    for alpha in (0.1, 0.2):
        for sigma in (1.0, 2.0):
            for seed in (0, 1):
                overrides = [f"smoothing.alpha={alpha}", f"smoothing.sigma={sigma}", f"seed={seed}"]
                metrics = {"test/f1": 80 + 10 * alpha + sigma + seed, "test/ece": alpha / sigma}
                make_job(sweep / f"a{alpha}_s{sigma}_seed{seed}", overrides, metrics)
    make_job(sweep / "unfinished", ["smoothing.alpha=0.3", "smoothing.sigma=1.0", "seed=0"], None)
    proc = subprocess.run(
        [CLAIMS_CMD, "plot-grid", str(sweep)]
        + ["--x", "smoothing.alpha", "--y", "smoothing.sigma", "--metrics", "test/f1", "test/ece"],
        capture_output=True,
        text=True,
        check=True,
    )
    png = sweep / "grid_smoothing.sigma_by_smoothing.alpha.png"
    assert proc.stdout.strip() == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "unfinished" in proc.stderr

    from labelsmooth.analysis.plot_grid import grid_means

    xs, ys, means, counts = grid_means(
        read_jobs([sweep], warn=lambda line: None), *("smoothing.alpha",), "smoothing.sigma", "test/f1"
    )
    assert xs == [0.1, 0.2] and ys == [1.0, 2.0] and counts == [[2, 2], [2, 2]]
    assert means[1][0] == pytest.approx(80 + 1 + 2 + 0.5)  # σ = 2, α = 0.1, mean of seeds 0 and 1


def test_plot_grid_reads_values_the_overrides_do_not_name_from_the_saved_config(tmp_path):
    sweep = tmp_path / "grid"
    for hidden in (100, 1200):
        for beta in (0.5, 1.0):
            config = {"seed": 0, "model": {"hidden": hidden}, "smoothing": {"beta": beta}}
            make_job(
                sweep / f"h{hidden}_b{beta}",
                [f"model.hidden={hidden}"],
                {"test/accuracy": hidden / 10 + beta},
                config,
            )
    out = tmp_path / "elsewhere" / "g.png"
    subprocess.run(
        [CLAIMS_CMD, "plot-grid", str(sweep), "--x", "model.hidden"]
        + ["--y", "smoothing.beta", "--metrics", "test/accuracy", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    assert out.stat().st_size > 0


def test_limited_unfinished_and_failed_jobs_are_skipped_with_a_warning(tmp_path):
    for name, metrics in (
        ("0", {"test/f1": 80.0}),
        ("1", {"test/f1": 99.0, "run": {"limited": True}}),
        ("2", None),
        ("3", {"test/f1": 70.0}),  # and an error.txt: another job failed in this folder
    ):
        (tmp_path / name / ".hydra").mkdir(parents=True)
        (tmp_path / name / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump(["smoothing=ls", f"seed={name}"])
        )
        if metrics is not None:
            (tmp_path / name / "metrics.json").write_text(json.dumps(metrics))
    (tmp_path / "3" / "error.txt").write_text("smoothing=gls seed=3\nValueError: x\n")
    warnings: list[str] = []
    jobs = read_jobs([tmp_path], warn=warnings.append)
    assert [job.metrics["test/f1"] for job in jobs] == [80.0]
    assert len(warnings) == 3 and "limited" in warnings[0] and "unfinished" in warnings[1]
    assert "failed job" in warnings[2] and "error.txt" in warnings[2]


def test_equivalence_claims_are_judged_by_tost_and_inconclusive_rows_say_why(tmp_path):
    base = [90.0, 92.0, 88.0, 91.0, 89.0]
    sweep = make_sweep(
        tmp_path / "s",
        {
            "none": base,
            "ls": [b + d for b, d in zip(base, [0.01, -0.02, 0.0, 0.02, -0.01], strict=True)],  # ≈ 0
            "gls": [b + d for b, d in zip(base, [2.1, 1.9, 2.0, 2.2, 1.8], strict=True)],  # ≈ +2
            "cp": [b + d for b, d in zip(base, [0.9, -1.1, 1.2, -0.8, 0.1], strict=True)],  # noisy ≈ 0
        },
    )
    jobs = read_jobs([sweep], warn=lambda line: None)
    rows = {
        r.configuration: r for r in compute(jobs, ["smoothing=none"], "test/f1", "equivalent", margin=0.5)
    }
    assert rows["smoothing=ls"].verdict == "supports" and rows["smoothing=ls"].level == pytest.approx(0.9)
    assert rows["smoothing=gls"].verdict == "contradicts"
    assert rows["smoothing=cp"].verdict == "inconclusive" and rows["smoothing=cp"].reason == "too few seeds"
    # The smallest margin 5 seeds establish for cp's spread is above 0.5: more seeds would be needed.
    assert rows["smoothing=cp"].mde > 0.5 and rows["smoothing=cp"].seeds_needed > 5
    # A directional claim: cp's MDE at 5 seeds is ~1.7 F1, so an effect of interest of 5 would be seen.
    directional = compute(
        jobs, ["smoothing=none"], "test/f1", "higher", [(["smoothing=cp"], 5.0)], effect_of_interest=5.0
    )
    cp = next(r for r in directional if r.configuration == "smoothing=cp")
    assert cp.verdict == "inconclusive" and cp.reason.startswith("no effect at this resolution")
    assert cp.ci_high < 5.0
    assert 0.5 < cp.mde < 5.0 and cp.seeds_needed <= 5
    with pytest.raises(SystemExit, match="needs --margin"):
        compute(jobs, ["smoothing=none"], "test/f1", "equivalent")
