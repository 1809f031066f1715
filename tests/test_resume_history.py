"""What metrics.json says a run trained on: every commit (each allocation's, in order) and each resume."""

from __future__ import annotations

import logging

from labelsmooth.cli.train import run_history
from labelsmooth.run.settings import Resume


def test_a_fresh_run_trained_on_its_commit_only():
    assert run_history(None, "aaa") == {"commits": ["aaa"], "resumed_from": []}


def test_a_resume_on_another_commit_says_so_and_metrics_json_lists_both(caplog):
    earlier = {"commits": ["aaa"], "resumed_from": []}
    resume = Resume("run/checkpoints/last.ckpt", 6, ["trainer.max_epochs (1 → 2)"], earlier)
    with caplog.at_level(logging.WARNING):
        history = run_history(resume, "bbb")
    assert history["commits"] == ["aaa", "bbb"]
    assert history["resumed_from"] == [
        {
            "checkpoint": "run/checkpoints/last.ckpt",
            "step": 6,
            "changed_settings": ["trainer.max_epochs (1 → 2)"],
        }
    ]
    assert "the run trained on commit aaa so far; it goes on at bbb" in caplog.text
    # a second resume on the same commit adds no commit, and keeps the first resume's record
    again = run_history(Resume("run/checkpoints/last.ckpt", 9, [], history), "bbb")
    assert again["commits"] == ["aaa", "bbb"] and len(again["resumed_from"]) == 2
