"""Build-once folders keyed by their parameters: the cache of every generated or derived data set.

`cached_dir(root, params, build)` returns `root/<key>/`, where `<key>` is a hash of `params` (which should
name the generator and its version). The folder is built at most once per key, whoever asks first:

- different parameters give different folders, so jobs sweeping `data.*` never share or overwrite files;
- the build writes into a temporary folder beside the final one, `params.json` goes in last, and
  `atomic.atomic_dir` publishes the whole folder (fsynced, in one rename), so a folder named `<key>` is
  always complete — a crash (or a kill) mid-build leaves only a `.<key>.tmp-*` folder, which the next
  build of that key removes;
- builders of one key take a `filelock.FileLock` (`root/.<key>.lock`), so parallel jobs and DDP ranks on
  one node wait for the first one instead of building the same files twice.

`cached(root, params, build, load)` also loads the folder, and heals it: a folder whose files fail to load
(truncated by a full disk, damaged) is reported with its path, removed and built once more.

Any parameters and any build function will do: the synthetic CoNLL and SQuAD sources use it for their
splits, and a data module can cache encoded features under (data params, tokenizer, max_length, stride).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from labelsmooth.atomic import atomic_dir, sha256_of

log = logging.getLogger(__name__)
T = TypeVar("T")


def damaged(err: BaseException) -> bool:
    """Does `err` say a cached file is cut or corrupt (so rebuilding it helps)? What torch's zip reader, the
    unpickler and the JSON reader raise for a truncated or damaged file, a file missing from the folder.
    Not a permission problem, and not any other error (a bug of the loader): those propagate, and a
    shared cache is never deleted for them."""
    if isinstance(err, PermissionError):
        return False
    if isinstance(err, pickle.UnpicklingError | EOFError | json.JSONDecodeError | zipfile.BadZipFile):
        return True
    if isinstance(err, FileNotFoundError):
        return True
    if isinstance(err, RuntimeError | OSError):
        text = str(err)
        return any(mark in text for mark in ("PytorchStreamReader", "zip archive", "Invalid argument"))
    return False


PARAMS_FILE = "params.json"


def cache_key(params: Mapping[str, Any]) -> str:
    """16 hex digits of the SHA-256 of the canonical JSON of `params` (key order does not matter)."""
    try:
        canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cache parameters {params!r}: expected plain JSON values ({err})") from err
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _checked(folder: Path, params: Mapping[str, Any]) -> Path:
    """`folder`, after checking that its params.json is `params` (an edited cache or a hash collision)."""
    stored = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
    if stored != json.loads(json.dumps(params)):  # compare as JSON: tuples and lists are one thing there
        raise ValueError(
            f"{folder / PARAMS_FILE}: holds other parameters than requested ({stored} != {dict(params)}); "
            "delete that folder to rebuild it"
        )
    return folder


# How long a job waits for another process building the same cache folder (SQuAD 2.0's features take
# minutes); past it, one line names the lock instead of waiting forever behind a builder that hung.
BUILD_WAIT_S = 3600


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    lock = FileLock(str(path), timeout=BUILD_WAIT_S, fallback_to_soft=False)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(
            f"{path}: waited {BUILD_WAIT_S // 60} min for another process building this cache folder; "
            "if none is running, delete the lock file"
        ) from None
    try:
        yield
    finally:
        lock.release()


def cached_dir(root: str | Path, params: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
    """The complete folder `root/<cache_key(params)>`, calling `build(folder)` to fill it if it is missing.

    `build` writes its files into the (empty, temporary) folder it is given; if it raises, nothing is
    published and the error propagates.
    """
    root = Path(root)
    folder = root / cache_key(params)
    if folder.is_dir():  # published by rename, hence complete: no lock needed to read it
        return _checked(folder, params)
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(root / f".{folder.name}.lock"):
        if folder.is_dir():  # another process built it while we waited for the lock
            return _checked(folder, params)
        # Leftovers of a builder of this key that died: every builder holds the lock, so none is running.
        for stale in root.glob(f".{folder.name}.tmp-*"):
            shutil.rmtree(stale)
        with atomic_dir(folder) as tmp:  # files fsynced, the umask's permissions, one rename
            build(tmp)
            (tmp / PARAMS_FILE).write_text(json.dumps(dict(params), indent=1, sort_keys=True) + "\n")
    return folder


def cached(
    root: str | Path, params: Mapping[str, Any], build: Callable[[Path], None], load: Callable[[Path], T]
) -> T:
    """`load(cached_dir(root, params, build))`; a cached folder that fails to load (a truncated or damaged
    file) is reported with its path, removed and built once more."""
    folder = cached_dir(root, params, build)
    seen = _identity(folder)
    try:
        return load(folder)
    except Exception as err:
        if not damaged(err):
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        log.warning("%s: the cached files do not load (%s); building them again", folder, reason)
    with _build_lock(Path(root) / f".{folder.name}.lock"):
        if _identity(folder) == seen:  # not rebuilt by another process meanwhile: that one is whole
            shutil.rmtree(folder, ignore_errors=True)
    return load(cached_dir(root, params, build))


def _identity(folder: Path) -> tuple[int, int] | None:
    """Which build of the folder this is (its params.json's inode and change time), None when absent."""
    try:
        st = (folder / PARAMS_FILE).stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_ctime_ns


def file_digests(paths: Mapping[str, Path]) -> dict[str, str]:
    """The SHA-256 of each file's bytes: what keys a cache built from local files. A path, size or time
    stamp would keep stale features for a file replaced by one of the same size with its time kept (an
    archive extracted again, `rsync -t`, `cp -p`); hashing SQuAD 2.0's 40 MB costs about 0.1 s."""
    return {name: sha256_of(path) for name, path in paths.items()}
