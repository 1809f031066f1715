"""The build-once parameter-keyed cache: one build per key, even under a race; failures leave nothing."""

from __future__ import annotations

import json
import multiprocessing
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
