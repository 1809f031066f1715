"""ECE / MCE / NLL / accuracy: hand-computed bins, torchmetrics agreement, -inf entries, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torchmetrics.classification import MulticlassCalibrationError

from labelsmooth.metrics.calibration import calibration_errors, calibration_report, reliability_bins


def _random_problem(seed: int, n: int, k: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g) * scale, torch.randint(0, k, (n,), generator=g)


def test_hand_computed_example_with_exact_zero_and_one() -> None:
    # 15 bins. 0.0 -> bin 0; 0.9 -> bin 13 (0.867, 0.933]; 0.98, 1.0, 1.0 -> the top bin 14 (0.933, 1].
    conf = torch.tensor([0.0, 0.9, 1.0, 1.0, 0.98])
    correct = torch.tensor([False, True, True, False, True])
    bins = reliability_bins(conf, correct, n_bins=15)
    assert bins.counts.tolist() == [1] + [0] * 12 + [1, 3]
    top_gap = abs(2 / 3 - (1.0 + 1.0 + 0.98) / 3)
    ece, mce = calibration_errors(conf, correct, n_bins=15)
    assert ece == pytest.approx(1 / 5 * 0.1 + 3 / 5 * top_gap, abs=1e-6)
    assert mce == pytest.approx(top_gap, abs=1e-6)


def test_bins_are_right_closed() -> None:
    # With 2 bins, 0.5 belongs to (0, 0.5] and 1.0 to (0.5, 1].
    assert reliability_bins(torch.tensor([0.5, 0.25]), torch.tensor([1, 1]), n_bins=2).counts.tolist() == [
        2,
        0,
    ]
    assert reliability_bins(torch.tensor([0.5, 1.0]), torch.tensor([1, 1]), n_bins=2).counts.tolist() == [
        1,
        1,
    ]


@settings(max_examples=50, deadline=None)
@given(
    conf=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    seed=st.integers(0, 2**16),
    n_bins=st.integers(1, 20),
)
def test_bins_partition_the_items(conf: list[float], seed: int, n_bins: int) -> None:
    correct = torch.rand(len(conf), generator=torch.Generator().manual_seed(seed)) < 0.5
    bins = reliability_bins(torch.tensor(conf, dtype=torch.float64), correct, n_bins)
    assert int(bins.counts.sum()) == len(conf)
    assert float((bins.accuracy * bins.counts).sum()) == pytest.approx(float(correct.sum()))
    assert float((bins.confidence * bins.counts).sum()) == pytest.approx(sum(conf))
    # Every item sits inside its bin's edges (the mean confidence of a bin lies within them too).
    filled = bins.counts > 0
    assert bool((bins.confidence[filled] <= bins.edges[1:][filled] + 1e-12).all())
    assert bool((bins.confidence[filled] >= bins.edges[:-1][filled] - 1e-12).all())


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 300),
    k=st.integers(2, 12),
    scale=st.floats(0.1, 6.0),
)
def test_agrees_with_torchmetrics(seed: int, n: int, k: int, scale: float) -> None:
    logits, labels = _random_problem(seed, n, k, scale)
    probs = torch.softmax(logits, dim=1)
    conf, pred = probs.max(dim=1)
    # torchmetrics bins are [lo, hi) with 1.0 in an extra bin: compare only away from the edges.
    edges = torch.linspace(0, 1, 16)
    assume(not bool(torch.isin(conf, edges).any()))
    ece, mce = calibration_errors(conf, pred == labels)
    tm_ece = MulticlassCalibrationError(num_classes=k, n_bins=15, norm="l1")(probs, labels)
    tm_mce = MulticlassCalibrationError(num_classes=k, n_bins=15, norm="max")(probs, labels)
    assert ece == pytest.approx(float(tm_ece), abs=1e-6)
    assert mce == pytest.approx(float(tm_mce), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_report_matches_torch_and_torchmetrics(seed: int) -> None:
    logits, labels = _random_problem(seed, 500, 7, 3.0)
    report = calibration_report(logits, labels)
    assert report["nll"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)), abs=1e-5)
    assert report["accuracy"] == pytest.approx(float((logits.argmax(1) == labels).float().mean()))
    tm = MulticlassCalibrationError(num_classes=7, n_bins=15, norm="l1")(torch.softmax(logits, 1), labels)
    assert report["ece"] == pytest.approx(float(tm), abs=1e-6)
    scaled = calibration_report(logits, labels, temperature=2.0)
    assert scaled["nll"] == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits / 2, labels)), abs=1e-5
    )


def test_neg_inf_entries_are_excluded() -> None:
    logits, labels = _random_problem(3, 200, 6, 2.0)
    padded = torch.cat([logits, torch.full((200, 4), -torch.inf)], dim=1)
    assert calibration_report(padded, labels) == pytest.approx(calibration_report(logits, labels), abs=1e-9)


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), "N = 0"),
        (torch.tensor([[0.0, -torch.inf]]), torch.tensor([1]), "invalid"),
        (torch.tensor([[-torch.inf, -torch.inf]]), torch.tensor([0]), "only -inf"),
        (torch.tensor([[0.0, torch.nan]]), torch.tensor([0]), "NaN"),
        (torch.tensor([[0.0, 1.0]]), torch.tensor([2]), "class indices"),
    ],
)
def test_bad_input_raises_one_clear_error(logits: torch.Tensor, labels: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration_report(logits, labels)


def test_bad_temperature_raises() -> None:
    with pytest.raises(ValueError, match="temperature=0"):
        calibration_report(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long), temperature=0.0)


def test_cli_prints_json_report(tmp_path) -> None:
    logits, labels = _random_problem(7, 100, 5, 2.0)
    path = tmp_path / "eval.npz"
    np.savez(path, logits=logits.numpy(), labels=labels.numpy())
    out = subprocess.run(
        [sys.executable, "-m", "labelsmooth.metrics.calibration", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(out.stdout)
    expected = calibration_report(logits, labels)
    assert {k: report[k] for k in expected} == pytest.approx(expected)
    assert report["n"] == 100
