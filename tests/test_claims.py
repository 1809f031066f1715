"""labelsmooth-claims (src/labelsmooth/cli/claims.py): the claims file, collecting results, the
until-decided loop, and the report that RESULTS.md must equal."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT, run_entry
from hydra import compose, initialize_config_dir

from labelsmooth.analysis import claims_file
from labelsmooth.analysis.report import committed_table, evaluate
from labelsmooth.analysis.results_store import as_jobs, collect, load
from labelsmooth.analysis.runner import run
from labelsmooth.analysis.verdicts import main as verdicts_main
from labelsmooth.cli import claims as claims_cli
from labelsmooth.config.checks import metric_names

CLAIMS = ROOT / "experiments" / "claims.yaml"


def test_committed_claims_tables_are_what_the_report_computes_from_the_committed_results():
    document = (ROOT / "experiments" / "RESULTS.md").read_text()
    message = "RESULTS.md's claims tables differ from the committed results: run labelsmooth-claims report"
    assert committed_table(document) == claims_cli.report_text(), message


def test_claims_file_names_recipes_that_exist_and_every_claim_has_a_sweep():
    cf = claims_file.load(CLAIMS)
    assert [c for c in cf.claims] == [
        "C1", "C1r", *(f"C{i}" for i in range(2, 10)), "C10", "C10n", "C11", "C11n", "C12", "C12n"
    ]  # fmt: skip
    for sweep in cf.sweeps.values():
        for recipe in [sweep.recipe, *(s.recipe for s in sweep.before)]:
            assert (ROOT / "conf" / "experiment" / f"{recipe}.yaml").is_file(), recipe
    assert cf.claims["C8"].direction == "equivalent" and cf.claims["C8"].margin == 0.01
    assert len(cf.claims["C7"].sweeps) == 2  # the calibrated and the over-confident stand-in


def test_every_claim_reads_a_metric_its_recipes_jobs_report():
    cf = claims_file.load(CLAIMS)
    for claim in cf.claims.values():
        for name in claim.sweeps:
            with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
                cfg = compose("config", [f"experiment={cf.sweeps[name].recipe}"])
            reported = {f"test/{m}" for m in metric_names(cfg)}
            for metric in {claim.metric, claim.baseline_metric or claim.metric}:
                assert metric in reported, (claim.id, name, metric)


def test_the_confirmation_of_c1_repeats_its_stand_in_on_seeds_c1_never_used():
    cf = claims_file.load(CLAIMS)
    c1, c1r = cf.claims["C1"], cf.claims["C1r"]
    [original], [confirmation] = (cf.sweeps[s] for s in c1.sweeps), (cf.sweeps[s] for s in c1r.sweeps)
    assert original.name != confirmation.name  # its own results file: judged apart from C1's seeds
    assert (original.recipe, original.key, original.overrides) == (
        confirmation.recipe,
        confirmation.key,
        confirmation.overrides,
    )
    assert (c1.metric, c1.direction, c1.baseline, c1.compare) == (
        c1r.metric,
        c1r.direction,
        c1r.baseline,
        c1r.compare,
    )
    # C1's seeds: those it plans, and every one stored for it (its rerun's file and the archived first runs)
    results = ROOT / "experiments" / "results"
    files = [results / f"{original.name}.jsonl.gz", results / "archive" / f"{original.name}.jsonl.gz"]
    stored = {e["seed"] for f in files if f.exists() for e in load(f)}
    assert stored and not (stored | set(c1.seeds)) & set(c1r.seeds)


BAD = [
    (lambda d: d["claims"]["C1"].pop("metric"), "claims.C1: missing key 'metric'"),
    (lambda d: d["claims"]["C1"].update(direction="better"), "claims.C1.direction: expected one of"),
    (lambda d: d["claims"]["C8"].pop("margin"), "claims.C8.margin: an equivalence claim needs a margin"),
    (lambda d: d["claims"]["C1"].update(sweeps=["nope"]), "claims.C1.sweeps: no sweep 'nope'"),
    (lambda d: d["claims"]["C1"].update(baseline="regularizer=none"), "must set the sweep's key 'smoothing'"),
    (
        lambda d: d["claims"]["C1"].update(compare=["smoothing gls"]),
        "claims.C1.compare[0]: expected one override",
    ),
    (
        lambda d: d["claims"]["C1"]["published"].update(delta="big"),
        "claims.C1.published.delta: expected a number",
    ),
    (lambda d: d["sweeps"]["mlp"].pop("recipe"), "sweeps.mlp: missing key 'recipe'"),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_a_malformed_claims_file_stops_with_one_line_naming_the_key(tmp_path, edit, message):
    data = yaml.safe_load(CLAIMS.read_text())
    edit(data)
    path = tmp_path / "claims.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(SystemExit, match=re.escape(message)) as err:
        claims_file.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_claim_id_and_bad_yaml_name_the_file(tmp_path):
    with pytest.raises(SystemExit, match=r"no claim C42 \(claims: C1, C1r, C2"):
        claims_file.load(CLAIMS).select(["C42"])
    (tmp_path / "c.yaml").write_text("claims: [unclosed")
    with pytest.raises(SystemExit, match="c.yaml: not valid YAML"):
        claims_file.load(tmp_path / "c.yaml")


# --- collecting and the until-decided loop, on fake jobs (no training) ----------------------------------
TOY = {
    "defaults": {"seeds": [0, 1, 2], "looks": [3, 4, 5], "bootstrap_replicates": 300},
    "sweeps": {"toy": {"recipe": "toy", "key": "smoothing", "stand_in": "a toy"}},
    "claims": {
        "T1": {
            "text": "LS beats none",
            "source": {"paper": "p", "table": "t"},
            "published": {"text": "+1", "delta": 1.0, "units": "accuracy points"},
            "sweeps": ["toy"],
            "metric": "test/accuracy",
            "direction": "higher",
            "baseline": "smoothing=none",
            "compare": ["smoothing=ls"],
        }
    },
}


def fake_checkout() -> tuple[str, bool]:  # the code the jobs FakeRuns writes record
    return "abc", False


def run_toy(tmp_path: Path, cf: claims_file.ClaimsFile, launch, *args, **kwargs) -> list[dict]:
    """`labelsmooth-claims run T1` with a stand-in for run.py: outputs in tmp_path/out, results in
    tmp_path/results; args and kwargs as runner.run's after `extra`."""
    out, results = tmp_path / "out", tmp_path / "results"
    return run(cf, cf.select(["T1"]), out, results, [], *args, launch=launch, code=fake_checkout, **kwargs)


class FakeRuns:
    """Stands in for run.py: writes finished job folders whose test items are drawn per configuration."""

    def __init__(self, effect: float, seed_sd: float, n_items: int = 400, shared: bool = False):
        self.effect, self.seed_sd, self.n_items, self.calls = effect, seed_sd, n_items, []
        self.rng = np.random.default_rng(0)
        # shared: every seed of a configuration gets nearly the same items right (the test set's own luck
        # then moves every seed alike: seed-t narrow, bootstrap over items wide).
        self.shared = shared

    def __call__(self, args: list[str]) -> None:
        self.calls.append(args)
        kv = dict(a.split("=", 1) for a in args if "=" in a)
        for seed in map(int, kv["seed"].split(",")):
            for value in kv["smoothing"].split(","):
                p = (
                    0.8
                    + 0.01 * self.rng.normal(0, self.seed_sd)
                    + (self.effect / 100 if value == "ls" else 0)
                )
                draw = np.random.default_rng(len(value) if self.shared else seed * 7 + len(value))
                correct = (draw.random(self.n_items) < p).astype(int)
                if self.shared:  # a few items flip from seed to seed
                    flip = np.random.default_rng(seed).random(self.n_items) < 0.02
                    correct = np.where(flip, 1 - correct, correct)
                folder = Path(kv["hydra.sweep.dir"]) / f"{value}_seed{seed}"
                (folder / ".hydra").mkdir(parents=True)
                overrides = [f"experiment={kv['experiment']}", f"smoothing={value}", f"seed={seed}"]
                (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
                items = {"unit": "image", "label": [0] * self.n_items, "correct": correct.tolist()}
                (folder / "scores_test.json").write_text(json.dumps(items))
                metrics = {
                    "test/accuracy": 100 * correct.mean(),
                    "run": {"git_commit": "abc", "git_dirty": False},
                }
                (folder / "metrics.json").write_text(json.dumps(metrics))


def _toy(tmp_path: Path, **claim) -> claims_file.ClaimsFile:
    data = json.loads(json.dumps(TOY))
    data["claims"]["T1"].update(claim)
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(data))
    return claims_file.load(tmp_path / "claims.yaml")


@pytest.mark.parametrize(
    ("effect", "seed_sd", "interest", "shared", "expected", "seeds"),
    [
        (15.0, 0.5, 1.0, False, "decided at look 2 of 3", 4),  # clear; OBF's first look is strict
        (0.0, 0.0, 40.0, False, "no effect at this resolution", 4),  # MDE at the look's level below it
        (0.0, 3.0, 1.0, False, "last look (5 seeds) reached", 5),  # neither: the design's last look ends it
        (4.0, 0.0, 20.0, True, "test set too small", 3),  # seeds agree, 80 items cannot tell
    ],
)
def test_until_decided_stops_for_the_right_reason(
    tmp_path, effect, seed_sd, interest, shared, expected, seeds
):
    cf = _toy(tmp_path, effect_of_interest=interest, effect_reason="the test's")
    fake = FakeRuns(effect, seed_sd, n_items=80 if shared else 400, shared=shared)
    results = tmp_path / "results"
    [entry] = run_toy(tmp_path, cf, fake, None, True, 20, 1, None)
    assert entry["stop"]["T1 smoothing=ls"].startswith(expected)
    assert entry["n_seeds"]["T1 smoothing=ls"] == seeds
    assert len(load(results / "toy.jsonl.gz")) == 2 * seeds
    assert all("smoothing=none,ls" in call for call in fake.calls)
    [verdict] = evaluate(cf, results)
    assert verdict.stop == f"{entry['stop']['T1 smoothing=ls']} after {seeds} seeds"


def test_a_batch_never_takes_a_sweep_past_max_seeds(tmp_path):
    # seeds 0-2 in batches of 2, then until decided: the last batch was [3, 4] and ended at 5 seeds of 4
    cf = _toy(tmp_path)
    fake = FakeRuns(0.0, 3.0)
    [entry] = run_toy(tmp_path, cf, fake, None, True, 4, 2, None)
    assert [b["seeds"] for b in entry["batches"]] == [[0, 1], [2], [3]]
    assert entry["n_seeds"]["T1 smoothing=ls"] == 4
    assert entry["stop"]["T1 smoothing=ls"] == "max seeds (4) reached"


def _grid(args: list[str]) -> list[tuple[str, int]]:
    kv = dict(a.split("=", 1) for a in args if "=" in a)
    return [(v, int(s)) for v in kv["smoothing"].split(",") for s in kv["seed"].split(",")]


def test_a_batch_run_again_trains_only_the_jobs_that_did_not_finish(tmp_path):
    # An interrupted batch left none at seeds 0-1 and ls at seed 0: seeds 0-2 again train ls 1-2 and none 2.
    cf = _toy(tmp_path)
    fake = FakeRuns(1.0, 1.0)
    jobs = tmp_path / "out" / "toy" / "jobs"
    fake(["experiment=toy", "smoothing=none", "seed=0,1", f"hydra.sweep.dir={jobs / 'a'}"])
    fake(["experiment=toy", "smoothing=ls", "seed=0", f"hydra.sweep.dir={jobs / 'b'}"])
    fake.calls.clear()
    [entry] = run_toy(tmp_path, cf, fake, [0, 1, 2], False, 5, 3, None)
    assert sorted(_grid(call) for call in fake.calls) == [[("ls", 1), ("ls", 2)], [("none", 2)]]
    assert entry["n_seeds"]["T1 smoothing=ls"] == 3 and len(load(tmp_path / "results" / "toy.jsonl.gz")) == 6


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (KeyboardInterrupt(), "interrupted"),
        (SystemExit("claims run: the sweep failed: ..."), "the batch failed"),
    ],
)
def test_a_run_cut_short_still_logs_its_batches_and_why_it_ended(tmp_path, error, why):
    cf = _toy(tmp_path)
    fake = FakeRuns(0.0, 3.0)

    def launch(args: list[str]) -> None:
        if fake.calls:  # the second batch is cut short
            raise error
        fake(args)

    with pytest.raises(type(error)):
        run_toy(tmp_path, cf, launch, None, True, 20, 1, None)
    [line] = (tmp_path / "results" / "runs.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert [b.get("cut_short", False) for b in entry["batches"]] == [False, True]
    assert (
        entry["stop"] == {"T1 smoothing=ls": f"cut short: {why}"} and entry["n_seeds"]["T1 smoothing=ls"] == 1
    )
    assert entry["error"] == (str(error) or "KeyboardInterrupt")


def test_verdict_rows_keep_the_claims_file_order_of_configurations(tmp_path):
    # kd_T1 is a prefix of kd_T10: matched as a substring, T10 took T1's rank and C6 read T1, T10, T2, T20, T5
    order = ["smoothing=ls1", "smoothing=ls2", "smoothing=ls10"]
    cf = _toy(tmp_path, compare=order)
    results = tmp_path / "results"
    run_toy(tmp_path, cf, FakeRuns(0, 1), [0, 1, 2], False, 5, 3, None)
    assert [v.row.configuration for v in evaluate(cf, results)] == order


def test_budget_stops_before_a_batch_that_would_overrun_it(tmp_path):
    cf = _toy(tmp_path)
    ticks = iter(range(0, 10_000, 100))  # each clock reading is 100 s later
    fake = FakeRuns(0.0, 3.0)
    [entry] = run_toy(tmp_path, cf, fake, None, True, 50, 1, 6.0, clock=lambda: next(ticks))
    assert entry["stop"]["T1 smoothing=ls"] == "budget (6 min) reached" and len(fake.calls) < 50


def test_collect_is_idempotent_and_refuses_another_test_set(tmp_path):
    fake = FakeRuns(1.0, 1.0)
    fake(["experiment=toy", "smoothing=none,ls", "seed=0,1", f"hydra.sweep.dir={tmp_path / 'a'}"])
    out = tmp_path / "toy.jsonl.gz"
    assert collect([tmp_path / "a"], out, ["smoothing"], ["test/accuracy"]) == 4
    first = out.read_bytes()
    assert collect([tmp_path / "a"], out, ["smoothing"], ["test/accuracy"]) == 4 and out.read_bytes() == first
    entry = load(out)[0]
    assert entry["config"] == ["smoothing=ls"] and entry["run"]["git_commit"] == "abc" and "items" in entry
    # The same rows from the results file as from the folders.
    jobs, items = as_jobs(out)
    assert len(jobs) == 4 and len(items) == 4
    FakeRuns(1.0, 1.0, n_items=300)(
        ["experiment=toy", "smoothing=ls", "seed=5", f"hydra.sweep.dir={tmp_path / 'b'}"]
    )
    with pytest.raises(SystemExit, match="another test set"):
        collect([tmp_path / "b"], out, ["smoothing"], ["test/accuracy"])


def test_verdicts_reads_a_results_file_like_its_sweep_folder(tmp_path, capsys):
    FakeRuns(2.0, 0.5)(
        ["experiment=toy", "smoothing=none,ls", "seed=0,1,2", f"hydra.sweep.dir={tmp_path / 's'}"]
    )
    collect([tmp_path / "s"], tmp_path / "t.jsonl.gz", ["smoothing"], ["test/accuracy"])
    common = ["--baseline", "smoothing=none", "--metric", "test/accuracy", "--published-delta", "1"]
    verdicts_main([str(tmp_path / "s"), *common, "--json", str(tmp_path / "a.json")])
    verdicts_main([str(tmp_path / "t.jsonl.gz"), *common, "--json", str(tmp_path / "b.json")])
    rows = [json.loads((tmp_path / f).read_text())["rows"][1] for f in ("a.json", "b.json")]
    for key in ("delta", "ci_low", "ci_high", "items_low", "items_high", "mde", "seeds_needed", "aso_better"):
        assert rows[0][key] == pytest.approx(rows[1][key], abs=1e-9), key
    assert rows[0]["items_low"] is not None


@pytest.mark.slow
def test_claims_run_trains_a_tiny_claim_collects_it_and_reports_it(tmp_path):
    data = yaml.safe_load(CLAIMS.read_text())
    data["sweeps"]["ls_calibration"]["overrides"] = ["trainer.max_epochs=2"]
    # A checkout with uncommitted changes records its jobs as dirty, which the store refuses to pool.
    data["sweeps"]["ls_calibration"] |= {"pool_commits": True, "pool_reason": "the test's own checkout"}
    # Two seeds, judged at a single look of two (the real design looks at 5 and 10).
    tiny = {"sweeps": ["ls_calibration"], "looks": [2]}
    data["claims"] = {c: data["claims"][c] | tiny for c in ("C7", "C8")}
    (tmp_path / "claims.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    # The console script, as a user runs it (pyproject's [project.scripts]).
    args = ["--claims", str(tmp_path / "claims.yaml")]
    args += [
        "--results",
        str(tmp_path / "results"),
        "run",
        "C7",
        "--seeds",
        "0-1",
        "--outputs",
        str(tmp_path / "o"),
    ]
    proc = run_entry.__globals__["subprocess"].run(
        [str(Path(sys.executable).parent / "labelsmooth-claims"), *args, "--", "logger=none"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    entries = load(tmp_path / "results" / "ls_calibration.jsonl.gz")
    assert sorted((e["config"][0], e["seed"]) for e in entries) == [
        ("smoothing=ls", 0),
        ("smoothing=ls", 1),
        ("smoothing=none", 0),
        ("smoothing=none", 1),
    ]
    # C8 on the same sweep reads ECE after temperature scaling: its items are stored too.
    assert entries[0]["items"].keys() == {"correct", "confidence", "confidence_ts"}
    assert entries[0]["metrics"].keys() == {"test/ece", "test/ece_ts"} and entries[0]["run"]["git_commit"]
    cf = claims_file.load(tmp_path / "claims.yaml")
    c7, c8 = evaluate(cf, tmp_path / "results")
    assert c7.row.n_paired == 2 and c7.stop == "fixed seeds after 2 seeds"
    assert c8.row.level == pytest.approx(0.9)  # TOST: two one-sided 5 % tests
    assert c7.row.has_items and c8.row.has_items and not np.isnan(c7.row.baseline_gap)
