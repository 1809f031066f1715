"""Target distributions: laws that hold for every smoothing and kind, and hand-computed GLS examples."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from labelsmooth.constants import CLS_INDEX, IGNORE_INDEX
from labelsmooth.smoothing import (
    ConfidencePenalty,
    Distillation,
    GaussianLabelSmoothing,
    LabelSmoothing,
    NoSmoothing,
)
from labelsmooth.smoothing.targets import gaussian_kernel, pointer_kernel

SETTINGS = settings(max_examples=50, deadline=None)


def make_batch(kind: str, seed: int, dims: tuple[int, int, int], masked: bool):
    """Random logits, targets (some ignored) and a mask that keeps every target valid."""
    gen = torch.Generator().manual_seed(seed)
    n, k, c = dims
    if kind == "tags":
        logits = torch.randn(n, k, c, generator=gen)
        target = torch.randint(0, c, (n, k), generator=gen)
        target[torch.rand(n, k, generator=gen) < 0.3] = IGNORE_INDEX
        return logits, target, None
    logits = torch.randn(n, k, generator=gen)
    mask = torch.rand(n, k, generator=gen) < 0.6 if masked else torch.ones(n, k, dtype=torch.bool)
    if kind == "pointer":
        mask[:, CLS_INDEX] = True
        target = torch.multinomial(mask.float(), 1, generator=gen).squeeze(-1)
        target[torch.rand(n, generator=gen) < 0.3] = CLS_INDEX
    else:
        target = torch.randint(0, k, (n,), generator=gen)
        mask[torch.arange(n), target] = True
    target[torch.rand(n, generator=gen) < 0.25] = IGNORE_INDEX
    return logits, target, mask if masked else None


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher.ckpt"
    # Construction reads only the metadata; these tests feed their own teacher logits.
    torch.save({"task_name": "toy", "state_dict": {}}, path)
    return str(path)


def smoothings(teacher: str, alpha: float, sigma: float, lam: float) -> list:
    return [
        NoSmoothing(),
        LabelSmoothing(alpha),
        GaussianLabelSmoothing(alpha, sigma, lam),
        ConfidencePenalty(0.5, base=LabelSmoothing(alpha)),
        Distillation(2.0, 0.5, teacher, base=GaussianLabelSmoothing(alpha, sigma, lam)),
    ]


batches = st.tuples(
    st.sampled_from(["classes", "pointer", "tags"]),
    st.integers(0, 2**31 - 1),
    st.tuples(st.integers(1, 5), st.integers(1, 12), st.integers(1, 6)),
    st.booleans(),
)
alphas = st.floats(0.0, 1.0)
sigmas = st.floats(1e-3, 20.0)


@SETTINGS
@given(batch=batches, alpha=alphas, sigma=sigmas, lam=st.floats(0.0, 1.0))
def test_every_target_is_a_distribution_on_valid_entries(teacher_file, batch, alpha, sigma, lam):
    kind = batch[0]
    logits, target, mask = make_batch(*batch)
    valid_items = target != IGNORE_INDEX
    valid = valid_items.unsqueeze(-1) if mask is None else mask & valid_items.unsqueeze(-1)
    for smoothing in smoothings(teacher_file, alpha, sigma, lam):
        needs_order = isinstance(smoothing, GaussianLabelSmoothing) or isinstance(
            getattr(smoothing, "base", None), GaussianLabelSmoothing
        )
        if kind == "classes" and needs_order:
            with pytest.raises(ValueError, match="unordered classes"):
                smoothing.targets(logits, target, mask, kind)
            continue
        q = smoothing.targets(logits, target, mask, kind)
        assert q.shape == logits.shape and q.dtype == torch.float32
        assert (q >= 0).all()
        assert (q[~valid.expand_as(q)] == 0).all(), "mass on a masked entry or an ignored row"
        sums = q.sum(-1)
        torch.testing.assert_close(sums[valid_items], torch.ones_like(sums[valid_items]))
        assert (sums[~valid_items] == 0).all()


@SETTINGS
@given(batch=batches.filter(lambda b: b[0] != "classes"), alpha=alphas, sigma=sigmas)
def test_gls_without_gaussian_weight_is_exactly_ls(batch, alpha, sigma):
    logits, target, mask = make_batch(*batch)
    gls = GaussianLabelSmoothing(alpha, sigma, gaussian_weight=0.0).targets(logits, target, mask, batch[0])
    ls = LabelSmoothing(alpha).targets(logits, target, mask, batch[0])
    assert torch.equal(gls, ls)


@SETTINGS
@given(batch=batches.filter(lambda b: b[0] != "classes"), alpha=alphas, lam=st.floats(0.0, 1.0))
def test_gls_with_vanishing_sigma_has_a_onehot_gaussian_part(batch, alpha, lam):
    kind = batch[0]
    logits, target, mask = make_batch(*batch)
    q = GaussianLabelSmoothing(alpha, 1e-4, lam).targets(logits, target, mask, kind)
    onehot = NoSmoothing().targets(logits, target, mask, kind)
    uniform = LabelSmoothing(1.0).targets(logits, target, mask, kind)
    expected = (1 - alpha) * onehot + alpha * ((1 - lam) * uniform + lam * onehot)
    torch.testing.assert_close(q, expected)


def test_ls_spreads_epsilon_over_all_k_classes():
    # PyTorch/timm convention: gold gets 1-α+α/K and every other class α/K (not fairseq's α/(K-1)).
    alpha, k = 0.2, 5
    q = LabelSmoothing(alpha).targets(torch.zeros(3, k), torch.tensor([0, 3, IGNORE_INDEX]))
    gold = torch.tensor([[True, False, False, False, False], [False, False, False, True, False]])
    assert torch.allclose(q[:2][gold], torch.tensor(1 - alpha + alpha / k))
    assert torch.allclose(q[:2][~gold], torch.tensor(alpha / k))
    assert (q[2] == 0).all()


def test_ls_with_a_mask_spreads_over_the_valid_classes_only():
    mask = torch.tensor([[True, True, False, True]])
    q = LabelSmoothing(0.3).targets(torch.zeros(1, 4), torch.tensor([1]), mask)
    torch.testing.assert_close(q, torch.tensor([[0.1, 0.7 + 0.1, 0.0, 0.1]]))


def test_gls_pointer_hand_computed():
    # L=5, position 1 masked, y=2, σ=1, α=0.1. Kernel exp(-d²/2) at d=-2,0,1,2: e⁻², 1, e^-½, e⁻²
    # (e^-½ = 0.60653066, e⁻² = 0.13533528), sum 1.87720123 → G = [0.07209418, 0, 0.53270794, 0.32310370,
    # 0.07209418]; q = 0.9·onehot(2) + 0.1·G.
    mask = torch.tensor([[True, False, True, True, True]])
    q = GaussianLabelSmoothing(0.1, 1.0).targets(torch.zeros(1, 5), torch.tensor([2]), mask, "pointer")
    expected = torch.tensor([[0.007209418, 0.0, 0.953270794, 0.032310370, 0.007209418]])
    torch.testing.assert_close(q, expected, atol=1e-7, rtol=0)
    # λ = 0.5 mixes in U over the 4 valid positions: α·(0.5·0.25 + 0.5·G).
    half = GaussianLabelSmoothing(0.1, 1.0, 0.5)
    q_half = half.targets(torch.zeros(1, 5), torch.tensor([2]), mask, "pointer")
    g = torch.tensor([0.07209418, 0.0, 0.53270794, 0.32310370, 0.07209418])
    u = torch.tensor([0.25, 0.0, 0.25, 0.25, 0.25])
    expected_half = 0.9 * torch.eye(5)[2] + 0.1 * (0.5 * u + 0.5 * g)
    torch.testing.assert_close(q_half[0], expected_half, atol=1e-7, rtol=0)


def test_gls_tags_hand_computed_skips_an_ignored_subword():
    # Words at positions 0, 2, 3 (position 1 is an ignored sub-word), labels 1, 2, 0, so ranks 0, 1, 2;
    # the second sentence is the same padded with two ignored positions. σ=1, α=0.1, C=3.
    # Rank 0: weights 1, e^-½, e⁻² (sum 1.74186594) → 0.57409699, 0.34820743, 0.07769558 on labels 1, 2, 0.
    # Rank 1: weights e^-½, 1, e^-½ (sum 2.21306132) → 0.27406862, 0.45186276, 0.27406862 on labels 1, 2, 0.
    # Rank 2: weights e⁻², e^-½, 1 → 0.07769558, 0.34820743, 0.57409699 on labels 1, 2, 0.
    # The second sentence has two more words (label 1) where the first has padding: no leak between rows.
    pad = IGNORE_INDEX
    target = torch.tensor([[1, pad, 2, 0, pad, pad], [1, pad, 2, 0, 1, 1]])
    q = GaussianLabelSmoothing(0.1, 1.0).targets(torch.zeros(2, 6, 3), target, None, "tags")
    expected = torch.tensor(
        [
            [0.007769558, 0.957409699, 0.034820743],
            [0.0, 0.0, 0.0],
            [0.027406862, 0.027406862, 0.945186276],
            [0.957409699, 0.007769558, 0.034820743],
            [0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    torch.testing.assert_close(q[0], expected, atol=1e-7, rtol=0)
    # In the longer sentence rank 0 also sees the label-1 words at ranks 3 and 4 (weights e^-4.5, e^-8).
    e = torch.exp(-torch.tensor([0.0, 0.5, 2.0, 4.5, 8.0], dtype=torch.float64))
    g0 = torch.stack([e[2], e[0] + e[3] + e[4], e[1]]) / e.sum()
    torch.testing.assert_close(q[1, 0], (0.9 * torch.eye(3)[1] + 0.1 * g0).float(), atol=1e-7, rtol=0)


def test_gls_pointer_unanswerable_puts_the_gaussian_on_cls():
    # Positions 1 and 2 are valid neighbours of CLS: a Gaussian centred there would leak onto them.
    mask = torch.tensor([[True, True, True, False]])
    target = torch.tensor([CLS_INDEX])
    q = GaussianLabelSmoothing(0.2, 5.0).targets(torch.zeros(1, 4), target, mask, "pointer")
    assert torch.equal(q, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    q_half = GaussianLabelSmoothing(0.2, 5.0, 0.5).targets(torch.zeros(1, 4), target, mask, "pointer")
    torch.testing.assert_close(q_half, torch.tensor([[0.8 + 0.1 + 0.1 / 3, 0.1 / 3, 0.1 / 3, 0.0]]))


def test_cached_gaussian_kernels_are_exact_unchanged_by_use_and_safe_after_inference_mode():
    gaussian_kernel.cache_clear()
    pointer_kernel.cache_clear()
    gls = GaussianLabelSmoothing(0.3, 1.7)
    logits, target, mask = make_batch("pointer", 3, (6, 11, 0), masked=True)
    with torch.inference_mode():  # a validation sanity check may be the first to build the kernel
        first = gls.targets(logits, target, mask, "pointer")
    z = logits.clone().requires_grad_(True)
    # Training after it: no inference-tensor error.
    gls.compute(z, target, mask, "pointer", with_stats=False).loss.backward()
    assert torch.equal(gls.targets(logits, target, mask, "pointer"), first)  # in-place ops hit copies only
    d = torch.arange(11, dtype=torch.float64)
    exact = torch.exp(-((d[:, None] - d) ** 2) / (2 * 1.7**2)).float()
    assert torch.equal(gaussian_kernel(1.7, 11, torch.float32, torch.device("cpu")), exact)
    rows = pointer_kernel(1.7, 11, torch.float32, torch.device("cpu"))
    assert torch.equal(rows[CLS_INDEX], torch.eye(11)[CLS_INDEX]) and torch.equal(rows[1:], exact[1:])


def test_gls_on_unordered_classes_is_refused():
    with pytest.raises(ValueError, match="kind='classes' has unordered classes"):
        GaussianLabelSmoothing(0.1, 1.0).targets(torch.zeros(2, 3), torch.tensor([0, 1]))


@pytest.mark.parametrize(
    ("kind", "logits", "target", "mask", "match"),
    [
        ("pointer", torch.zeros(1, 4), torch.tensor([1]), torch.tensor([[1, 0, 1, 1]]) > 0, "masked entry"),
        ("classes", torch.zeros(2, 3), torch.tensor([0, 3]), None, r"outside \[0, 3\)"),
        ("classes", torch.zeros(2, 3), torch.tensor([0, -1]), None, "outside"),
        ("tags", torch.zeros(1, 2, 3), torch.tensor([[0, 1]]), torch.ones(1, 2, 3, dtype=torch.bool), "mask"),
        ("classes", torch.zeros(2, 3), torch.tensor([0.0, 1.0]), None, "integers"),
        ("pointer", torch.zeros(1, 4), torch.tensor([1]), torch.ones(1, 3, dtype=torch.bool), "mask"),
        ("spans", torch.zeros(1, 4), torch.tensor([1]), None, "kind='spans'"),
    ],
)
def test_bad_inputs_raise_one_clear_error(kind, logits, target, mask, match):
    with pytest.raises(ValueError, match=match):
        LabelSmoothing(0.1).targets(logits, target, mask, kind)
