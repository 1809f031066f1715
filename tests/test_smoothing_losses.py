"""Losses: agreement with torch and explicit formulas, reductions, gradients, bf16, and config validation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
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

SETTINGS = settings(max_examples=50, deadline=None)


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher.ckpt"
    # Construction reads no file (train.py checks and loads a teacher); these tests feed their own logits.
    torch.save({"task_name": "toy", "state_dict": {}}, path)
    return str(path)


def all_smoothings(teacher: str) -> dict[str, object]:
    return {
        "none": NoSmoothing(),
        "ls": LabelSmoothing(0.2),
        "gls": GaussianLabelSmoothing(0.2, 1.5, 0.7),
        "cp": ConfidencePenalty(0.8, base=LabelSmoothing(0.1)),
        "kd": Distillation(2.5, 0.4, teacher, base=GaussianLabelSmoothing(0.1, 1.0)),
    }


def pointer_batch(seed: int = 0, dtype=torch.float32):
    """Three QA items of context lengths 6, 4, 2 (plus CLS) padded to L=9, question tokens 1-2 masked."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([9, 7, 5])
    pos = torch.arange(9)
    mask = (pos < lengths.unsqueeze(-1)) & (pos >= 3)
    mask[:, CLS_INDEX] = True
    target = torch.tensor([5, CLS_INDEX, 4])
    return torch.randn(3, 9, generator=gen, dtype=dtype), target, mask, lengths


def tags_batch(seed: int = 0, dtype=torch.float32):
    """Three sentences of 6, 4, 2 positions padded to T=6, one ignored sub-word in the middle of each."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([6, 4, 2])
    target = torch.randint(0, 4, (3, 6), generator=gen)
    target[torch.arange(6) >= lengths.unsqueeze(-1)] = IGNORE_INDEX
    target[:, 1] = IGNORE_INDEX
    return torch.randn(3, 6, 4, generator=gen, dtype=dtype), target, None, lengths


def classes_batch(seed: int = 0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 5, (7,), generator=gen)
    target[[1, 4]] = IGNORE_INDEX
    return torch.randn(7, 5, generator=gen, dtype=dtype), target, None, None


BATCHES = {"classes": classes_batch, "pointer": pointer_batch, "tags": tags_batch}


def teacher_for(name: str, logits: torch.Tensor) -> torch.Tensor | None:
    if name != "kd":
        return None
    return torch.randn(logits.shape, generator=torch.Generator().manual_seed(7), dtype=logits.dtype)


def cases(teacher: str):
    for name, smoothing in all_smoothings(teacher).items():
        for kind in BATCHES:
            if kind == "classes" and name in ("gls", "kd"):  # GLS needs ordered classes
                continue
            yield name, smoothing, kind


# --- agreement with torch ---------------------------------------------------------------------------------
@SETTINGS
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 8),
    k=st.integers(1, 10),
    alpha=st.floats(0.0, 1.0),
    ignore=st.booleans(),
)
def test_ls_matches_torch_cross_entropy_with_label_smoothing(seed, n, k, alpha, ignore):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=gen) * 3
    target = torch.randint(0, k, (n,), generator=gen)
    if ignore:
        target[torch.rand(n, generator=gen) < 0.4] = IGNORE_INDEX
        target[0] = 0  # at least one valid item (torch's mean over none is NaN)
    ours = LabelSmoothing(alpha).compute(logits, target, with_stats=False).loss
    theirs = F.cross_entropy(logits, target, label_smoothing=alpha)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)


def test_switched_off_equals_plain_cross_entropy(teacher_file):
    off = {
        "ls": LabelSmoothing(0.0),
        "gls": GaussianLabelSmoothing(0.0, 2.0, 0.3),
        "cp": ConfidencePenalty(0.0),
        "kd": Distillation(3.0, 0.0, teacher_file),
    }
    for kind, make in BATCHES.items():
        logits, target, mask, _ = make()
        masked = logits if mask is None else logits.masked_fill(~mask, -1e9)
        plain = F.cross_entropy(masked.reshape(-1, logits.shape[-1]), target.reshape(-1))
        for name, smoothing in off.items():
            if kind == "classes" and name == "gls":
                continue
            teacher = teacher_for(name, logits)
            out = smoothing.compute(logits, target, mask, kind, teacher_logits=teacher)
            torch.testing.assert_close(out.loss, plain, msg=f"{name} {kind}")
            torch.testing.assert_close(out.nll, plain)


def test_compute_without_stats_gives_the_same_loss_and_no_statistics(teacher_file):
    for name, smoothing, kind in cases(teacher_file):
        logits, target, mask, _ = BATCHES[kind]()
        teacher = teacher_for(name, logits)
        full = smoothing.compute(logits, target, mask, kind, teacher_logits=teacher)
        bare = smoothing.compute(logits, target, mask, kind, teacher_logits=teacher, with_stats=False)
        assert torch.equal(bare.loss, full.loss), f"{name} {kind}"
        assert bare.nll is None and bare.stats is None
        assert full.nll is not None and set(full.stats) == {"target_entropy", "max_prob", "logit_gap"}


def test_nll_and_stats_match_explicit_formulas():
    logits, target, mask, _ = pointer_batch()
    out = LabelSmoothing(0.3).compute(logits, target, mask, "pointer")
    p = logits.masked_fill(~mask, -1e9).softmax(-1)
    torch.testing.assert_close(out.nll, -p[torch.arange(3), target].log().mean())
    torch.testing.assert_close(out.stats["max_prob"], p.max(-1).values.mean())
    q = LabelSmoothing(0.3).targets(logits, target, mask, "pointer")
    torch.testing.assert_close(out.stats["target_entropy"], -(q * q.clamp(min=1e-30).log()).sum(-1).mean())
    rows = [row[m] for row, m in zip(logits, mask, strict=True)]
    gaps = [row.max() - (row.sum() - row.max()) / (len(row) - 1) for row in rows]
    torch.testing.assert_close(out.stats["logit_gap"], torch.stack(gaps).mean())
    assert not any(v.requires_grad for v in out.stats.values()) and not out.nll.requires_grad


def test_logit_gap_without_a_mask_is_top_minus_the_mean_of_the_rest():
    logits = torch.tensor([[3.0, 1.0, -1.0, 0.0], [0.0, 2.0, 2.0, 5.0]])
    out = NoSmoothing().compute(logits, torch.tensor([0, IGNORE_INDEX]))
    torch.testing.assert_close(out.stats["logit_gap"], torch.tensor(3.0 - 0.0))  # the ignored row is left out
    out = NoSmoothing().compute(logits, torch.tensor([0, 1]))
    torch.testing.assert_close(out.stats["logit_gap"], torch.tensor((3.0 + (5.0 - 4.0 / 3)) / 2))


# --- confidence penalty -------------------------------------------------------------------------------------
def test_cp_lowers_the_loss_when_entropy_rises():
    # Same gold probability 0.6, so the same cross-entropy; the flatter rest has the higher entropy.
    flat = torch.tensor([[0.6, 0.2, 0.2]]).log()
    peaky = torch.tensor([[0.6, 0.39, 0.01]]).log()
    target = torch.tensor([0])
    cp = ConfidencePenalty(1.0)
    ce = NoSmoothing().compute(flat, target, with_stats=False).loss
    torch.testing.assert_close(ce, NoSmoothing().compute(peaky, target, with_stats=False).loss)
    assert (
        cp.compute(flat, target, with_stats=False).loss
        < cp.compute(peaky, target, with_stats=False).loss
        < ce
    )
    h = -(flat.exp() * flat).sum()
    torch.testing.assert_close(cp.compute(flat, target, with_stats=False).loss, ce - h)


def test_cp_warmup_is_linear():
    logits, target, mask, _ = pointer_batch()
    cp = ConfidencePenalty(2.0, warmup_steps=8)
    ce = NoSmoothing().compute(logits, target, mask, "pointer", with_stats=False).loss
    p = logits.masked_fill(~mask, -1e9).softmax(-1)
    h = -(p * p.clamp(min=1e-30).log()).sum(-1).mean()
    for step, beta in [(0, 0.0), (2, 0.5), (4, 1.0), (6, 1.5), (8, 2.0), (100, 2.0)]:
        cp.step(step)
        assert cp.current() == {"beta": pytest.approx(beta)}
        torch.testing.assert_close(
            cp.compute(logits, target, mask, "pointer", with_stats=False).loss, ce - beta * h
        )
    assert ConfidencePenalty(2.0).current() == {"beta": 2.0}


# --- distillation -------------------------------------------------------------------------------------------
def explicit_kl(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    pt = (teacher / temperature).softmax(-1)
    return (pt * (pt.log() - (student / temperature).log_softmax(-1))).sum(-1)


def test_kd_with_weight_one_is_cross_entropy_to_the_teacher_minus_its_entropy(teacher_file):
    logits, target, _, _ = classes_batch()
    teacher = teacher_for("kd", logits)
    loss = (
        Distillation(1.0, 1.0, teacher_file)
        .compute(logits, target, teacher_logits=teacher, with_stats=False)
        .loss
    )
    valid = target != IGNORE_INDEX
    pt = teacher.softmax(-1)[valid]
    cross = -(pt * logits.log_softmax(-1)[valid]).sum(-1)
    h_teacher = -(pt * pt.log()).sum(-1)
    torch.testing.assert_close(loss, (cross - h_teacher).mean())


def test_kd_scales_the_kl_by_t_squared(teacher_file):
    logits, target, _, _ = classes_batch()
    teacher = teacher_for("kd", logits)
    valid = target != IGNORE_INDEX
    for temperature in (0.5, 3.0):
        kd = Distillation(temperature, 1.0, teacher_file)
        expected = temperature**2 * explicit_kl(teacher, logits, temperature)[valid].mean()
        torch.testing.assert_close(
            kd.compute(logits, target, teacher_logits=teacher, with_stats=False).loss, expected
        )
    # Hinton et al.: with T² the gradient stays put as T grows, ≈ (z - z_t)/(K·N) for centred logits.
    gen = torch.Generator().manual_seed(3)
    z, zt = torch.randn(2, 6, 5, generator=gen, dtype=torch.float64)
    z, zt = z - z.mean(-1, keepdim=True), zt - zt.mean(-1, keepdim=True)
    target = torch.zeros(6, dtype=torch.long)
    grads = []
    for temperature in (1000.0, 2000.0):
        zz = z.clone().requires_grad_(True)
        Distillation(temperature, 1.0, teacher_file).compute(
            zz, target, teacher_logits=zt, with_stats=False
        ).loss.backward()
        grads.append(zz.grad)
    # Without T² the two would differ by a factor 2 and both be ~T times smaller.
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=1e-4)
    torch.testing.assert_close(grads[1], (z - zt) / (5 * 6), rtol=0, atol=1e-4)


def test_kd_masks_the_teacher_like_the_student(teacher_file):
    logits, target, mask, _ = pointer_batch()
    teacher = teacher_for("kd", logits)
    loss = (
        Distillation(2.0, 1.0, teacher_file)
        .compute(logits, target, mask, "pointer", teacher_logits=teacher, with_stats=False)
        .loss
    )
    kl = [explicit_kl(t[m], s[m], 2.0) for t, s, m in zip(teacher, logits, mask, strict=True)]
    torch.testing.assert_close(loss, 4.0 * torch.stack(kl).mean())
    # Whatever the teacher says about masked positions does not matter.
    noisy = teacher.masked_fill(~mask, 50.0)
    torch.testing.assert_close(
        Distillation(2.0, 1.0, teacher_file)
        .compute(logits, target, mask, "pointer", teacher_logits=noisy, with_stats=False)
        .loss,
        loss,
    )


def test_kd_needs_teacher_logits_and_others_refuse_them(teacher_file):
    logits, target, _, _ = classes_batch()
    with pytest.raises(ValueError, match="teacher_logits required"):
        Distillation(2.0, 0.5, teacher_file).compute(logits, target, with_stats=False)
    with pytest.raises(ValueError, match="uses no teacher"):
        LabelSmoothing(0.1).compute(logits, target, teacher_logits=logits, with_stats=False)
    with pytest.raises(ValueError, match="expected the student's"):
        Distillation(2.0, 0.5, teacher_file).compute(
            logits, target, teacher_logits=logits[:, :3], with_stats=False
        )


# --- reductions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["none", "ls", "gls", "cp", "kd"])
@pytest.mark.parametrize("kind", ["pointer", "tags"])
def test_padded_batch_equals_its_items_alone(teacher_file, name, kind):
    smoothing = all_smoothings(teacher_file)[name]
    logits, target, mask, lengths = BATCHES[kind]()
    teacher = teacher_for(name, logits)
    batch_loss = smoothing.compute(logits, target, mask, kind, teacher_logits=teacher, with_stats=False).loss
    losses, weights = [], []
    for i, n in enumerate(lengths.tolist()):
        alone = (logits[i : i + 1, :n], target[i : i + 1, :n] if kind == "tags" else target[i : i + 1])
        m = None if mask is None else mask[i : i + 1, :n]
        t = None if teacher is None else teacher[i : i + 1, :n]
        losses.append(smoothing.compute(*alone, m, kind, teacher_logits=t, with_stats=False).loss)
        weights.append(int((alone[1] != IGNORE_INDEX).sum()))
    weights = torch.tensor(weights, dtype=torch.float32)
    torch.testing.assert_close(batch_loss, (torch.stack(losses) * weights).sum() / weights.sum())


@pytest.mark.parametrize("name", ["none", "ls", "cp"])
def test_classes_loss_is_the_mean_over_valid_items(teacher_file, name):
    smoothing = all_smoothings(teacher_file)[name]
    logits, target, _, _ = classes_batch()
    valid = (target != IGNORE_INDEX).nonzero().squeeze(-1).tolist()
    alone = torch.stack(
        [smoothing.compute(logits[i : i + 1], target[i : i + 1], with_stats=False).loss for i in valid]
    )
    torch.testing.assert_close(smoothing.compute(logits, target, with_stats=False).loss, alone.mean())


@pytest.mark.parametrize("name", ["none", "ls", "cp", "kd"])
def test_an_ignored_item_with_every_entry_masked_stays_finite(teacher_file, name):
    smoothing = all_smoothings(teacher_file)[name]
    if name == "kd":  # the shared kd smooths with GLS, which classes refuse
        smoothing = Distillation(2.5, 0.4, teacher_file, base=LabelSmoothing(0.1))
    logits = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False, True], [False] * 4, [True, False, True, True]])
    target = torch.tensor([1, IGNORE_INDEX, 3])
    teacher = teacher_for(name, logits.detach())
    out = smoothing.compute(logits, target, mask, "classes", teacher_logits=teacher)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(logits.grad).all()
    assert all(torch.isfinite(v) for v in out.stats.values()) and torch.isfinite(out.nll)
    assert (logits.grad[1] == 0).all()
    kept = [0, 2]
    t = None if teacher is None else teacher[kept]
    alone = smoothing.compute(
        logits[kept], target[kept], mask[kept], "classes", teacher_logits=t, with_stats=False
    ).loss
    torch.testing.assert_close(out.loss, alone)


@pytest.mark.parametrize("name", ["none", "ls", "gls", "cp", "kd"])
def test_values_at_masked_entries_change_nothing(teacher_file, name):
    # Masking adds finfo.min instead of filling it in: any finite value underneath must vanish.
    smoothing = all_smoothings(teacher_file)[name]
    logits, target, mask, _ = pointer_batch()
    teacher = teacher_for(name, logits)
    results = []
    for fill in (0.0, 1e30, -1e30, 3e4):
        z = logits.masked_fill(~mask, fill).requires_grad_(True)
        out = smoothing.compute(z, target, mask, "pointer", teacher_logits=teacher)
        out.loss.backward()
        results.append((out.loss, out.nll, out.stats, z.grad))
    for loss, nll, stats, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        torch.testing.assert_close(nll, results[0][1])
        torch.testing.assert_close(stats["max_prob"], results[0][2]["max_prob"])
        torch.testing.assert_close(grad, results[0][3])
        assert (grad[~mask] == 0).all()


def test_a_batch_of_only_ignored_items_has_zero_loss_and_gradient():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = LabelSmoothing(0.1).compute(logits, torch.full((2,), IGNORE_INDEX), with_stats=False).loss
    loss.backward()
    assert loss.item() == 0.0 and (logits.grad == 0).all()


# --- gradients and precision --------------------------------------------------------------------------------
def test_gradcheck_every_loss_and_kind_in_float64(teacher_file):
    for name, smoothing, kind in cases(teacher_file):
        logits, target, mask, _ = BATCHES[kind](dtype=torch.float64)
        teacher = teacher_for(name, logits)
        z = logits.clone().requires_grad_(True)

        def fn(z, smoothing=smoothing, target=target, mask=mask, kind=kind, teacher=teacher):
            return smoothing.compute(z, target, mask, kind, teacher_logits=teacher, with_stats=False).loss

        assert torch.autograd.gradcheck(fn, (z,)), f"{name} {kind}"
        z.grad = None
        fn(z).backward()
        if mask is not None:
            assert (z.grad[~mask] == 0).all(), f"{name} {kind}: gradient on a masked entry"
        assert torch.isfinite(z.grad).all()


def test_bf16_autocast_computes_the_loss_in_float32(teacher_file):
    for name, smoothing, kind in cases(teacher_file):
        logits, target, mask, _ = BATCHES[kind]()
        weight = torch.eye(logits.shape[-1]) * 1.5
        teacher = teacher_for(name, logits)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = logits @ weight  # a bf16 matmul, like a model's head under autocast
            assert low.dtype == torch.bfloat16
            loss = smoothing.compute(low, target, mask, kind, teacher_logits=teacher, with_stats=False).loss
        assert loss.dtype == torch.float32, name
        exact = smoothing.compute(
            low.float(), target, mask, kind, teacher_logits=teacher, with_stats=False
        ).loss
        torch.testing.assert_close(loss, exact, msg=f"{name} {kind}: not computed in float32")
        full = smoothing.compute(
            logits @ weight, target, mask, kind, teacher_logits=teacher, with_stats=False
        ).loss
        torch.testing.assert_close(loss, full, atol=0.05, rtol=0.02)


# --- configuration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda t: LabelSmoothing(1.5), "smoothing.alpha=1.5"),
        (lambda t: LabelSmoothing(-0.1), "smoothing.alpha=-0.1"),
        (lambda t: LabelSmoothing("0.1"), "smoothing.alpha="),
        (lambda t: GaussianLabelSmoothing(0.1, 0.0), "smoothing.sigma=0.0"),
        (lambda t: GaussianLabelSmoothing(0.1, -1.0), "smoothing.sigma=-1.0"),
        (lambda t: GaussianLabelSmoothing(0.1, 1.0, 1.2), "smoothing.gaussian_weight=1.2"),
        (lambda t: ConfidencePenalty(-0.5), "smoothing.beta=-0.5"),
        (lambda t: ConfidencePenalty(1.0, warmup_steps=-3), "smoothing.warmup_steps=-3"),
        (lambda t: ConfidencePenalty(1.0, warmup_steps=2.5), "smoothing.warmup_steps=2.5"),
        (lambda t: ConfidencePenalty(1.0, base=ConfidencePenalty(1.0)), "smoothing.base="),
        (lambda t: Distillation(0.0, 0.5, t), "smoothing.temperature=0.0"),
        (lambda t: Distillation(2.0, 1.5, t), "smoothing.weight=1.5"),
        (lambda t: Distillation(2.0, 0.5, None), "smoothing.teacher: required"),
        (lambda t: Distillation(2.0, 0.5, ""), "smoothing.teacher: required"),
    ],
)
def test_bad_config_values_raise_naming_the_key(teacher_file, make, key):
    with pytest.raises(ValueError) as err:
        make(teacher_file)
    message = str(err.value)
    assert message.startswith(key) and "\n" not in message


def test_base_accepts_a_target_smoothing_and_defaults_to_none(teacher_file):
    cp = ConfidencePenalty(0.5, base=LabelSmoothing(0.2))
    assert cp.current() == {"beta": 0.5, "alpha": 0.2}
    assert isinstance(ConfidencePenalty(0.5).base, NoSmoothing)
    kd = Distillation(2.0, 0.5, teacher_file, base=GaussianLabelSmoothing(0.1, 1.0))
    expected = {"temperature": 2.0, "weight": 0.5, "alpha": 0.1, "sigma": 1.0, "gaussian_weight": 1.0}
    assert kd.current() == expected
