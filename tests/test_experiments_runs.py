"""The α/σ grid and the paper-scale recipes run end to end through run.py, shrunk to tiny sizes."""

from __future__ import annotations

import subprocess

import pytest
from conftest import CLAIMS_CMD, TINY_NER, read_metrics, run_entry, run_notebook

TINY_QA = [
    "model=tiny",
    "data=squad_synthetic",
    "data.n_paragraphs_train=4",
    "data.n_paragraphs_val=2",
    "data.n_paragraphs_test=2",
]
# Whatever the recipe sets for a GPU: a few steps on CPU in full precision, no logger.
FEW_STEPS = [
    "+trainer.max_steps=3",
    "trainer.max_epochs=1",
    "trainer.precision=32-true",
    "trainer.accelerator=cpu",
    "logger=none",
]


@pytest.mark.slow
def test_gls_grid_sweeps_alpha_and_sigma_and_the_notebook_draws_its_heatmaps(tmp_path):
    sweep = tmp_path / "grid"
    run_entry(
        ["-m", "experiment=gls_grid", *TINY_NER[1:], "logger=none", f"hydra.sweep.dir={sweep}"]
        # a sweep key on the command line replaces the recipe's values for that key
        + ["smoothing.alpha=0.1,0.3", "smoothing.sigma=1.0,4.0", "seed=0"],
        cwd=tmp_path,
    )
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == [f"alpha{a}_sigma{s}_seed0" for a in (0.1, 0.3) for s in (1.0, 4.0)]
    for job in jobs:
        assert {"test/f1", "test/ece"} <= read_metrics(sweep / job).keys()

    proc = subprocess.run(
        [CLAIMS_CMD, "plot-grid", str(sweep), "--x", "smoothing.alpha"]
        + ["--y", "smoothing.sigma", "--metrics", "test/f1", "test/ece"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (sweep / "grid_smoothing.sigma_by_smoothing.alpha.png").stat().st_size > 0, proc.stderr

    printed = run_notebook(sweep)
    assert (sweep / "grid_heatmaps.png").stat().st_size > 0
    assert "numeric sweep keys: ['smoothing.alpha', 'smoothing.sigma']" in printed


@pytest.mark.slow
@pytest.mark.parametrize(
    ("experiment", "tiny"),
    [
        ("ner_gls_bert_base", TINY_NER[1:-2] + ["data=conll_synthetic"]),
        ("qa_gls_bert_large", TINY_QA),
        ("qa_gls_albert_xlarge", TINY_QA),
    ],
)
def test_paper_scale_recipe_trains_a_few_steps_with_tiny_model_and_embedded_data(tmp_path, experiment, tiny):
    run = tmp_path / "run"
    run_entry([f"experiment={experiment}", *tiny, *FEW_STEPS, f"hydra.run.dir={run}"], cwd=tmp_path)
    config = (run / ".hydra" / "config.yaml").read_text()
    # the recipe's own settings survived the swap of model and data
    if experiment.startswith("qa"):
        assert "max_query_length: 64" in config and "doc_stride: 128" in config
    assert "test/f1" in read_metrics(run)
