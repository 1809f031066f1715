"""The claims engine's inputs, refused with one line naming the file and where: results files that would pool
several commits' code or a rerun that disagrees, test sets named by their items, malformed claims files,
damaged results files, a results folder that is not there, and two runs of one sweep at once."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import ROOT
from torch.utils.data import TensorDataset

from labelsmooth.analysis import claims_file
from labelsmooth.analysis.results_store import collect, load, merge, refuse_unjoinable, save
from labelsmooth.analysis.runner import run
from labelsmooth.analysis.sweep_folder import LOCK, OWNER, batch_folder, sweep_lock
from labelsmooth.analysis.test_items import Items, fingerprint
from labelsmooth.cli import claims as claims_cli
from labelsmooth.data.conll import Sentence
from labelsmooth.tasks.image import ImageModule, image_ids
from labelsmooth.tasks.ner import NERModule, sentence_ids

CLEAN = {"git_commit": "a" * 40, "git_dirty": False}


def clean_checkout() -> tuple[str, bool]:  # the code the jobs of CLEAN record
    return "a" * 40, False


TOY = {
    "defaults": {"seeds": [0, 1, 2], "bootstrap_replicates": 100},
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


def job(folder: Path, value: str, seed: int, correct: list[int], run=CLEAN, ids: bool = True) -> Path:
    """A finished job folder as run.py leaves it: overrides, per-image scores, metrics.json with `run`."""
    (folder / ".hydra").mkdir(parents=True)
    overrides = ["experiment=toy", f"smoothing={value}", f"seed={seed}"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    items = {"unit": "image", "label": [0] * len(correct), "correct": correct}
    if ids:
        items["id"] = [f"img{i}" for i in range(len(correct))]
    (folder / "scores_test.json").write_text(json.dumps(items))
    metrics = {"test/accuracy": 100 * sum(correct) / len(correct), "run": run}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def claims(tmp_path: Path, edit=None, name: str = "claims.yaml") -> Path:
    data = json.loads(json.dumps(TOY))
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return path


def stops(match: str, call, *args, **kwargs) -> str:
    """The one-line message `call` stops with (it must match)."""
    with pytest.raises(SystemExit) as err:
        call(*args, **kwargs)
    message = str(err.value)
    assert re.search(match, message), message
    assert "\n" not in message, message
    return message


def collect_toy(folders: list[Path], out: Path, pool: bool = False) -> int:
    return collect(folders, out, ["smoothing"], ["test/accuracy"], warn=lambda line: None, pool=pool)


# --- 1. one results file, one clean commit (unless the sweep declares pooling) --------------------------
def test_collect_refuses_jobs_of_another_commit_or_a_dirty_tree_unless_the_sweep_pools(tmp_path):
    out = tmp_path / "r" / "toy.jsonl.gz"
    job(tmp_path / "a" / "none_0", "none", 0, [1, 0, 1, 1])
    assert collect_toy([tmp_path / "a"], out) == 1
    other = {"git_commit": "b" * 40, "git_dirty": False}
    job(tmp_path / "b" / "none_1", "none", 1, [1, 1, 1, 0], run=other)
    stops(
        r"toy\.jsonl\.gz: its jobs would come from aaaaaaa ×1, bbbbbbb ×1: .*sweeps\.toy",
        collect_toy,
        [tmp_path / "b"],
        out,
    )
    job(tmp_path / "c" / "none_2", "none", 2, [0, 0, 1, 0], run=CLEAN | {"git_dirty": True})
    stops(r"aaaaaaa ×1, aaaaaaa dirty ×1", collect_toy, [tmp_path / "c"], out)
    job(tmp_path / "d" / "none_3", "none", 3, [0, 1, 1, 0], run={})  # no provenance: unknown code
    stops(r"aaaaaaa ×1, \? dirty ×1", collect_toy, [tmp_path / "d"], out)
    assert len(load(out)) == 1  # nothing was written
    assert collect_toy([tmp_path / "b", tmp_path / "c"], out, pool=True) == 3


def test_a_claims_run_stops_before_a_batch_whose_jobs_the_results_file_would_refuse(tmp_path):
    # Seen on 2026-12-07: the folders of an aborted rerun on another commit were collected as a run started,
    # and its first batch (30 min of training) could only have been refused when it was collected.
    job(tmp_path / "out" / "toy" / "jobs" / "old" / "none_0", "none", 0, [1, 0, 1, 1])  # commit aaaaaaa
    calls: list[list[str]] = []

    def claims_run(commit: str, dirty: bool, edit=None):
        cf = claims_file.load(claims(tmp_path, edit))
        out, results = tmp_path / "out", tmp_path / "r"
        args = ([], [0, 1], False, 5, 1, None)
        return run(
            cf, cf.select(["T1"]), out, results, *args, launch=calls.append, code=lambda: (commit, dirty)
        )

    stops(
        r"toy\.jsonl\.gz: holds jobs of aaaaaaa ×1, this checkout is bbbbbbb: .*sweeps\.toy",
        claims_run,
        "b" * 40,
        False,
    )
    stops(
        r"toy\.jsonl\.gz: this checkout's code \(aaaaaaa dirty\) has uncommitted", claims_run, "a" * 40, True
    )
    assert calls == []
    claims_run("a" * 40, False)  # the file's own commit: the batch runs (and, a stand-in, finishes nothing)
    assert len(calls) == 1
    claims_run("b" * 40, False, lambda d: d["sweeps"]["toy"].update(pool_commits=True, pool_reason="r"))
    assert len(calls) == 2


@pytest.mark.parametrize("stored", [[], [CLEAN], [CLEAN, CLEAN | {"git_dirty": True}]])
@pytest.mark.parametrize("now", [("a" * 40, False), ("b" * 40, False), ("a" * 40, True), (None, None)])
@pytest.mark.parametrize("pool", [False, True])
def test_the_check_before_a_batch_refuses_exactly_what_collect_would(tmp_path, stored, now, pool):
    if len(stored) > 1 and not pool:
        pytest.skip("a file of a clean and a dirty job exists only where its sweep pools")
    old = [
        {"config": ["smoothing=none"], "seed": i, "overrides": [], "metrics": {}, "run": r}
        for i, r in enumerate(stored)
    ]
    save(tmp_path / "toy.jsonl.gz", old)
    new = {"config": ["smoothing=ls"], "seed": 0, "overrides": [], "metrics": {}}
    new["run"] = {"git_commit": now[0], "git_dirty": now[1]}
    try:
        merge(old, [new], "toy.jsonl.gz", pool)
    except SystemExit:
        stops("toy.jsonl.gz", refuse_unjoinable, tmp_path / "toy.jsonl.gz", *now, pool)
    else:
        refuse_unjoinable(tmp_path / "toy.jsonl.gz", *now, pool)


def test_pool_commits_needs_a_reason_and_reaches_collect_through_the_command(tmp_path):
    def pool(reason):
        return lambda d: d["sweeps"]["toy"].update(pool_commits=True, **reason)

    stops(
        r"claims\.yaml: sweeps\.toy\.pool_reason: pool_commits: true needs a reason",
        claims_file.load,
        claims(tmp_path, pool({})),
    )
    stops(
        r"sweeps\.toy\.pool_reason: given without pool_commits",
        claims_file.load,
        claims(tmp_path, lambda d: d["sweeps"]["toy"].update(pool_reason="x")),
    )
    stops(
        r"sweeps\.toy\.pool_commits: expected true or false",
        claims_file.load,
        claims(tmp_path, lambda d: d["sweeps"]["toy"].update(pool_commits="yes")),
    )
    job(tmp_path / "jobs" / "none_0", "none", 0, [1, 0, 1, 1])
    job(
        tmp_path / "jobs" / "none_1",
        "none",
        1,
        [1, 1, 1, 0],
        run={"git_commit": "b" * 40, "git_dirty": False},
    )
    (tmp_path / "r").mkdir()
    args = ["--results", str(tmp_path / "r"), "collect", "toy", str(tmp_path / "jobs")]
    stops("its jobs would come from", claims_cli.main, ["--claims", str(claims(tmp_path)), *args])
    pooled = claims(tmp_path, pool({"pool_reason": "the two commits differ in documents only"}))
    assert claims_file.load(pooled).sweeps["toy"].pool_reason.startswith("the two commits")
    assert (
        claims_cli.main(["--claims", str(pooled), *args]) == 0
        and len(load(tmp_path / "r" / "toy.jsonl.gz")) == 2
    )


def test_committed_results_files_still_load_for_the_report():
    files = sorted((ROOT / "experiments" / "results").glob("*.jsonl.gz"))
    assert files and all(load(f) for f in files)


# --- 2. a rerun that differs stops ----------------------------------------------------------------------
def test_a_rerun_with_another_result_stops_naming_both_and_an_identical_one_is_skipped(tmp_path):
    out = tmp_path / "toy.jsonl.gz"
    job(tmp_path / "a" / "none_0", "none", 0, [1, 0, 1, 1])
    assert collect_toy([tmp_path / "a"], out) == 1
    job(tmp_path / "same" / "none_0", "none", 0, [1, 0, 1, 1])
    assert collect_toy([tmp_path / "a", tmp_path / "same"], out) == 1
    rerun = job(tmp_path / "b" / "none_0", "none", 0, [1, 1, 1, 1])
    message = stops(
        r"job \['smoothing=none'\] seed 0 ran twice with different results: the stored job "
        r"\(aaaaaaa\) test/accuracy=75\.0, .* test/accuracy=100\.0",
        collect_toy,
        [tmp_path / "b"],
        out,
    )
    assert str(rerun) in message
    # Two new runs of one job in one collect: both folders are named.
    job(tmp_path / "c" / "x" / "ls_0", "ls", 0, [1, 0, 0, 0])
    job(tmp_path / "c" / "y" / "ls_0", "ls", 0, [0, 0, 0, 0])
    message = stops("ran twice with different results", collect_toy, [tmp_path / "c"], out)
    assert str(tmp_path / "c" / "x" / "ls_0") in message and str(tmp_path / "c" / "y" / "ls_0") in message


# --- 3. the fingerprint names the items ------------------------------------------------------------------
def test_the_fingerprint_hashes_item_ids_and_falls_back_to_the_old_key_without_them():
    labels = [0, 1, 2]
    a = Items("image", {"id": ["p", "q", "r"], "label": labels, "correct": [1, 1, 0]})
    b = Items("image", {"id": ["s", "t", "u"], "label": labels, "correct": [1, 1, 0]})
    assert fingerprint(a) != fingerprint(b)  # the same labels, other images
    assert fingerprint(a) == fingerprint(Items("image", a.columns | {"label": [2, 2, 2]}))
    old = Items("image", {"label": labels, "correct": [1, 1, 0]})
    assert fingerprint(old) == hashlib.sha256(json.dumps(labels).encode()).hexdigest()[:16]
    old_ner = Items("sentence", {"tp": [1], "predicted": [1], "gold": [2]})
    assert fingerprint(old_ner) == hashlib.sha256(json.dumps([2]).encode()).hexdigest()[:16]


def test_jobs_with_ids_join_rows_stored_before_ids_but_not_other_items(tmp_path):
    out = tmp_path / "toy.jsonl.gz"
    job(tmp_path / "old" / "none_0", "none", 0, [1, 0, 1, 1], ids=False)
    collect_toy([tmp_path / "old"], out)
    [stored] = load(out)
    assert "legacy_fingerprint" not in stored  # as the committed rows: their fingerprint is the labels'
    job(tmp_path / "new" / "ls_0", "ls", 0, [1, 1, 1, 1])
    assert collect_toy([tmp_path / "new"], out) == 2
    new = next(e for e in load(out) if e["config"] == ["smoothing=ls"])
    assert new["legacy_fingerprint"] == stored["fingerprint"] != new["fingerprint"]
    # Another test set of the same labels: told apart by the ids.
    other = job(tmp_path / "other" / "ls_1", "ls", 1, [1, 1, 1, 1])
    scores = json.loads((other / "scores_test.json").read_text())
    (other / "scores_test.json").write_text(json.dumps(scores | {"id": ["w", "x", "y", "z"]}))
    stops("seed 1 was scored on another test set", collect_toy, [tmp_path / "other"], out)


def test_image_scores_carry_a_hash_of_each_images_pixels():
    x = torch.rand(5, 64)
    dataset = TensorDataset(x, torch.tensor([3, 1, 4, 1, 5]), torch.arange(5))
    assert image_ids(x) == image_ids(x.clone()) and len(set(image_ids(x))) == 5
    assert image_ids(x[[1, 0]]) == image_ids(x)[1::-1]
    fake = SimpleNamespace(trainer=SimpleNamespace(datamodule=SimpleNamespace(dataset=lambda split: dataset)))
    outputs = {
        "logits": torch.randn(3, 6),
        "labels": torch.tensor([4, 1, 5]),
        "index": torch.tensor([2, 3, 4]),
    }
    decoded = ImageModule.decode(fake, outputs, "test")
    assert decoded.files["scores_test.json"].args[0]["id"] == image_ids(x[2:])


def test_ner_scores_carry_a_hash_of_each_sentences_tokens():
    s = [Sentence(["Paris", "is", "big"], ["B-LOC", "O", "O"]), Sentence(["Ann", "ran"], ["B-PER", "O"])]
    retagged = [Sentence(t.tokens, ["O"] * len(t.tokens)) for t in s]
    assert sentence_ids(s) == sentence_ids(retagged) and len(set(sentence_ids(s))) == 2
    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    datamodule = SimpleNamespace(items={"test": s}, has_gold=True)
    fake = SimpleNamespace(
        trainer=SimpleNamespace(datamodule=datamodule), class_names=labels, entity_types=["LOC", "PER"]
    )
    outputs = {
        "logits": torch.randn(5, len(labels)),
        "labels": torch.tensor([1, 0, 0, 3, 0]),
        "sentence_index": torch.tensor([0, 0, 0, 1, 1]),
        "word_index": torch.tensor([0, 1, 2, 0, 1]),
    }
    decoded = NERModule.decode(fake, outputs, "test")
    assert decoded.files["scores_test.json"].args[0]["id"] == sentence_ids(s)


# --- 4. malformed claims files ---------------------------------------------------------------------------
DUPLICATES = [
    ("claims:\n  T1:", "claims:\n  T1: {}\n  T1:", r"claims\.T1: given twice \(lines \d+ and \d+\)"),
    (
        "    metric: test/accuracy\n",
        "    metric: test/accuracy\n    metric: test/error\n",
        r"claims\.T1\.metric: given twice",
    ),
    (
        "defaults:\n",
        "defaults:\n  confidence: 0.9\n  confidence: 0.95\n",
        r"defaults\.confidence: given twice",
    ),
]


@pytest.mark.parametrize(("old", "new", "message"), DUPLICATES)
def test_a_key_given_twice_stops_at_any_depth(tmp_path, old, new, message):
    path = claims(tmp_path)
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    stops(re.escape(str(path)) + ": " + message, claims_file.load, path)


BAD = [
    (lambda d: d["claims"]["T1"].pop("metric"), r"claims\.T1: missing key 'metric'"),
    (
        lambda d: d["claims"]["T1"].update(direction="not-higher"),
        r"claims\.T1\.direction: expected one of higher",
    ),
    (
        lambda d: d["claims"]["T1"].update(looks=[5, 5]),
        r"claims\.T1\.looks: expected numbers of seeds ≥ 2 in strictly",
    ),
    (lambda d: d["claims"]["T1"].update(looks=[10, 5]), r"claims\.T1\.looks: .*got \[10, 5\]"),
    (lambda d: d["claims"]["T1"].update(looks=1), r"claims\.T1\.looks: .*got 1"),
    (lambda d: d["claims"]["T1"].update(looks=[]), r"claims\.T1\.looks"),
    (lambda d: d["claims"]["T1"].update(looks=True), r"claims\.T1\.looks"),
    (lambda d: d["defaults"].update(looks=["5"]), r"defaults\.looks: .*got \['5'\]"),
    (lambda d: d["claims"]["T1"].update(seeds=[0, 0]), r"claims\.T1\.seeds: expected a list of distinct"),
    (
        lambda d: d["claims"]["T1"].update(effect_of_interest=0.5),
        r"claims\.T1\.effect_reason: effect_of_interest needs a reason",
    ),
    (
        lambda d: d["claims"]["T1"].update(effect_reason="why"),
        r"claims\.T1\.effect_reason: given without effect_of_interest",
    ),
    (
        lambda d: d["claims"]["T1"].update(effect_of_interest=-1, effect_reason="x"),
        r"claims\.T1\.effect_of_interest: expected a size > 0",
    ),
    (
        lambda d: d["claims"]["T1"].update(effect_of_interest="big", effect_reason="x"),
        r"claims\.T1\.effect_of_interest",
    ),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_a_bad_claims_entry_stops_naming_the_file_and_key(tmp_path, edit, message):
    path = claims(tmp_path, edit)
    stops(re.escape(str(path)) + ": " + message, claims_file.load, path)


def test_looks_and_effect_of_interest_are_parsed_with_their_defaults(tmp_path):
    [t1] = claims_file.load(claims(tmp_path)).claims.values()
    assert t1.looks == (3,) and t1.effect_of_interest is None and t1.effect_reason == ""  # 3 default seeds
    fixed = claims(
        tmp_path, lambda d: d["claims"]["T1"].update(looks=10, effect_of_interest=1, effect_reason="r")
    )
    [t1] = claims_file.load(fixed).claims.values()
    assert t1.looks == (10,) and t1.effect_of_interest == 1.0 and t1.effect_reason == "r"
    planned = claims(tmp_path, lambda d: d["defaults"].update(looks=[5, 10, 20]))
    assert claims_file.load(planned).claims["T1"].looks == (5, 10, 20)
    cf = claims_file.load(ROOT / "experiments" / "claims.yaml")  # the committed file still loads
    assert all(c.looks for c in cf.claims.values())


def test_an_unknown_claim_on_the_command_line_stops_naming_the_file(tmp_path):
    path = claims(tmp_path)
    stops(
        re.escape(str(path)) + r": no claim T9 \(claims: T1\)",
        claims_cli.main,
        ["--claims", str(path), "run", "T9", "--outputs", str(tmp_path / "o")],
    )


# --- 5. damaged results files ----------------------------------------------------------------------------
def rows(n: int) -> list[dict]:
    return [
        {
            "config": ["smoothing=none"],
            "seed": i,
            "overrides": ["smoothing=none", f"seed={i}"],
            "metrics": {"test/accuracy": 50 + i / 7},
            "run": CLEAN | {"note": hashlib.sha256(bytes(i)).hexdigest()},
        }
        for i in range(n)
    ]


def test_a_truncated_results_file_names_its_last_complete_row(tmp_path):
    path = tmp_path / "t.jsonl.gz"
    save(path, rows(200))
    data = path.read_bytes()
    cut = data[: len(data) // 2]
    path.write_bytes(cut)
    complete = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    assert 0 < complete < 200
    stops(rf"t\.jsonl\.gz: row {complete}: the last complete row; the gzip stream is truncated", load, path)
    path.write_bytes(data[:15])
    stops(r"t\.jsonl\.gz: before row 1; the gzip stream is truncated", load, path)


def test_a_corrupted_results_file_names_the_row(tmp_path):
    path = tmp_path / "c.jsonl.gz"
    save(path, rows(50))
    data = path.read_bytes()
    path.write_bytes(data[:10] + b"\xff" + data[11:])  # the first deflate block: an invalid block type
    stops(r"c\.jsonl\.gz: row 1: corrupted, not gzipped JSON lines \(.*invalid block type", load, path)
    path.write_bytes(data[:-8] + bytes(4) + data[-4:])  # every row reads, then the CRC of them fails
    stops(r"c\.jsonl\.gz: row 51: corrupted, not gzipped JSON lines \(CRC check failed", load, path)
    path.write_text('{"config": []}\n')  # not gzipped at all
    stops(r"c\.jsonl\.gz: row 1: corrupted, not gzipped JSON lines \(Not a gzipped file", load, path)


@pytest.mark.parametrize(
    ("second", "message"),
    [
        ("{oops", r"row 2: not JSON"),
        ("[1, 2]", r"row 2: expected a job \(a JSON object\)"),
        ('{"config": [], "seed": 0, "overrides": []}', r"row 2: no key metrics, run"),
        (None, r"row 2: metric test/accuracy is nan, not a finite number"),
    ],
)
def test_a_bad_line_names_the_file_and_row(tmp_path, second, message):
    first, nan = rows(2)
    nan["metrics"]["test/accuracy"] = float("nan")
    line = json.dumps(nan) if second is None else second  # json writes NaN, and reads it back
    path = tmp_path / "b.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(first) + "\n" + line + "\n").encode(), mtime=0))
    stops(r"b\.jsonl\.gz: " + message, load, path)


def test_a_job_whose_metric_is_nan_is_not_collected(tmp_path):
    folder = job(tmp_path / "a" / "none_0", "none", 0, [1, 0])
    metrics = json.loads((folder / "metrics.json").read_text()) | {"test/accuracy": float("nan")}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    stops(
        r"none_0/metrics\.json: test/accuracy is nan", collect_toy, [tmp_path / "a"], tmp_path / "r.jsonl.gz"
    )


# --- 6. a results folder that is not there ---------------------------------------------------------------
def test_a_missing_results_folder_stops_report_collect_and_verdicts_and_writes_nothing(tmp_path):
    document = tmp_path / "RESULTS.md"
    document.write_text("untouched\n")
    nope = tmp_path / "nope"
    for check in ([], ["--check"]):
        stops(
            rf"--results {re.escape(str(nope))}: no such results folder",
            claims_cli.main,
            ["--results", str(nope), "report", "--out", str(document), *check],
        )
    assert document.read_text() == "untouched\n" and not nope.exists()
    stops("no such results folder", claims_cli.report_text, results=nope)
    job(tmp_path / "jobs" / "none_0", "none", 0, [1, 0])
    stops(
        "no such results folder",
        claims_cli.main,
        ["--claims", str(claims(tmp_path)), "--results", str(nope), "collect", "toy", str(tmp_path / "jobs")],
    )
    assert not nope.exists()
    common = ["--baseline", "smoothing=none", "--metric", "test/accuracy"]
    stops(
        "nope.jsonl.gz: no such results file", claims_cli.main, ["verdicts", str(nope) + ".jsonl.gz", *common]
    )
    stops("no such sweep folder", claims_cli.main, ["verdicts", str(nope), *common])


# --- 7. one run per sweep at a time ----------------------------------------------------------------------
def test_a_second_run_of_a_sweep_stops_at_once_naming_the_claim_and_the_holder(tmp_path):
    cf = claims_file.load(claims(tmp_path))
    started, release, errors = threading.Event(), threading.Event(), []
    sweep = tmp_path / "out" / "toy"

    def claims_run(launch):  # `labelsmooth-claims run T1 --seeds 0`, with a stand-in for run.py
        run(
            cf,
            cf.select(["T1"]),
            tmp_path / "out",
            tmp_path / "r",
            [],
            [0],
            False,
            5,
            1,
            None,
            launch=launch,
            code=clean_checkout,
        )

    def slow_launch(args):
        started.set()
        assert release.wait(30)

    def first():
        try:
            claims_run(slow_launch)
        except BaseException as err:  # noqa: BLE001 - asserted below
            errors.append(err)

    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert started.wait(30)
        message = stops(
            r"claims run T1: sweep toy is being run by another `labelsmooth-claims run` \(pid \d+ on ",
            claims_run,
            lambda args: pytest.fail("the second run launched"),
        )
        assert (sweep / OWNER).read_text().strip() in message
    finally:
        release.set()
        holder.join(30)
    assert not errors and (sweep / LOCK).exists() and not (sweep / OWNER).exists()
    with sweep_lock(sweep, cf.select(["T1"])):  # released: the next run gets it
        pass


def test_batch_folders_of_the_same_seeds_started_in_one_second_do_not_collide(tmp_path):
    folders = [batch_folder(tmp_path / "jobs", [0, 1]) for _ in range(3)]
    assert len(set(folders)) == 3 and all(f.is_dir() for f in folders)
    assert all(re.fullmatch(r"\d{8}-\d{6}(-\d+)?_seeds0-1", f.name) for f in folders)
