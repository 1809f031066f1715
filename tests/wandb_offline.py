"""Read a W&B offline run file (`run-<id>.wandb`): a LevelDB-style log of protobuf `Record`s.

wandb ≥ 0.19 no longer ships a Python reader, so the tests carry this small one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
FILE_HEADER = struct.Struct("<4sHB")  # b":W&B", magic 0xBEE1, version
RECORD_HEADER = struct.Struct("<IHB")  # crc32, length, type (1 full, 2 first, 3 middle, 4 last)


def records(path: str | Path) -> list[pb.Record]:
    """All records of an offline run file, in order."""
    data = Path(path).read_bytes()
    ident, magic, _ = FILE_HEADER.unpack_from(data, 0)
    assert ident == b":W&B" and magic == 0xBEE1, f"{path}: not a W&B run file"
    out, pending, pos = [], b"", FILE_HEADER.size
    while pos + RECORD_HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < RECORD_HEADER.size:  # block trailer padding
            pos += room
            continue
        _, length, kind = RECORD_HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding at the end of a block
            pos += room
            continue
        pos += RECORD_HEADER.size
        pending += data[pos : pos + length]
        pos += length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def read_run(run_dir: str | Path) -> dict:
    """Id, group, name, tags, config, per-step history and summary of one offline run directory."""
    (path,) = Path(run_dir).glob("run-*.wandb")
    run: dict = {"config": {}, "history": [], "summary": {}}
    for r in records(path):
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run |= {"group": r.run.run_group, "name": r.run.display_name, "tags": list(r.run.tags)}
            run |= {"id": r.run.run_id}
            run["config"] |= {u.key: json.loads(u.value_json) for u in r.run.config.update}
        elif kind == "config":
            run["config"] |= {u.key: json.loads(u.value_json) for u in r.config.update}
        elif kind == "history":
            run["history"].append(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            )
        elif kind == "summary":
            run["summary"] |= {
                u.key or "/".join(u.nested_key): json.loads(u.value_json) for u in r.summary.update
            }
    return run
