"""The files beside a checkpoint: DDP ranks' RNG files outlive the last.ckpt that needs them, and a
writer killed mid-write leaves no temporary file for good."""

from __future__ import annotations

import torch

from labelsmooth.run.checkpoints import ConfinedModelCheckpoint
from labelsmooth.run.folder import prepare_folder
from labelsmooth.run.resume import prune_rank_files


def test_a_rank_keeps_its_rng_file_for_the_checkpoint_on_disk_until_the_next_is_written(tmp_path):
    for step in (3, 6, 12, 9):
        (tmp_path / f"rank1_step{step}.pt").write_bytes(b"x")
    (tmp_path / "rank2_step3.pt").write_bytes(b"x")
    prune_rank_files(tmp_path, 1)
    # step 12 for the checkpoint about to be written, step 9 for last.ckpt until then; by number, not name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "rank1_step12.pt",
        "rank1_step9.pt",
        "rank2_step3.pt",
    ]


def test_preparing_a_folder_removes_temporaries_a_killed_writer_left(tmp_path):
    ckpts = tmp_path / "checkpoints"
    (ckpts / "rng").mkdir(parents=True)
    for stale in (ckpts / ".last.ckpt.a1b2.tmp", ckpts / "rng" / ".rank1_step3.pt.x.tmp"):
        stale.write_bytes(b"half")
    (ckpts / "last.ckpt").write_bytes(b"whole")
    prepare_folder(tmp_path, resuming=True, rerun=False)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == [
        "checkpoints/last.ckpt"
    ]


def test_a_restored_best_checkpoint_state_names_files_of_this_runs_folder_only(tmp_path):
    """A crafted or copied last.ckpt: its ModelCheckpoint paths point at another run and outside the run."""
    own = tmp_path / "run" / "checkpoints"
    callback = ConfinedModelCheckpoint(dirpath=str(own), filename="best", monitor="val/nll")
    outside = str(own / ".." / ".." / "victim.txt")
    callback.load_state_dict(
        {
            "dirpath": str(own),
            "best_model_score": torch.tensor(0.5),
            "best_model_path": str(tmp_path / "other" / "checkpoints" / "best.ckpt"),
            "kth_best_model_path": outside,
            "best_k_models": {outside: torch.tensor(0.5), str(own / ".."): torch.tensor(0.4)},
            "last_model_path": "",
            "kth_value": torch.tensor(0.5),
        }
    )
    assert callback.best_model_path == str(own / "best.ckpt")
    assert callback.kth_best_model_path == str(own / "victim.txt")
    assert list(callback.best_k_models) == [str(own / "victim.txt")] and callback.last_model_path == ""
