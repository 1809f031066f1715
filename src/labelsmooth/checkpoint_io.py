"""AtomicCheckpointIO: every checkpoint Lightning writes (best.ckpt, last.ckpt) replaces the old one whole.

Lightning's own save goes through fsspec, which writes to a temporary file in $TMPDIR and moves it: where
the run folder is on another file system (local /tmp, shared outputs: the usual cluster layout) the move is
a copy into the final name, and a full disk left a truncated last.ckpt in place of the good one. Here the
temporary file is in the checkpoint's own folder and renamed over it after an fsync (outputs.atomic_file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from labelsmooth.outputs import atomic_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose writes are atomic, fsynced and get the user's umask (conf/trainer)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint: storage_options are not supported")
        with atomic_file(Path(path)) as f:
            torch.save(checkpoint, f)
