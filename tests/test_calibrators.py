"""Post-hoc calibrators: each fit checked against an independent numpy objective minimised by scipy.

The numpy objectives below are written from the formulas (not from the torch code) with their own gradients;
scipy's L-BFGS-B minimises them from the identity map. A calibrator is right when the numpy objective at its
fitted parameters equals scipy's minimum (~1e-4) and its `apply` equals the numpy map at those parameters.
The dirichletcal test (Kull et al.'s package) runs only where it is importable; it is not a dependency.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from labelsmooth.metrics.calibration import EMPTY_VAL, calibration_report, fit_temperature
from labelsmooth.metrics.calibrators import (
    DirichletScaler,
    MatrixScaler,
    TemperatureScaler,
    VectorScaler,
    odir_penalty,
)

K, L = 5, 12


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The fits here are tiny (500 x 5): on a busy two-core machine a second torch thread only spin-waits,
    which made single fits 30 times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# --- synthetic data ------------------------------------------------------------------------------------
def _classes(seed: int, n: int = 500, invalid: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels drawn from softmax(true logits); the model's logits distort them by a mixing matrix and shift
    (over-confident, class-biased), so temperature, vector and matrix maps all have something to correct."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randn(n, K, generator=g, dtype=torch.float64) * 1.5 + torch.linspace(-1, 1, K)
    mix = 2.0 * torch.eye(K, dtype=torch.float64) + 0.4 * torch.randn(K, K, generator=g, dtype=torch.float64)
    z = true @ mix.T + torch.randn(K, generator=g, dtype=torch.float64)
    if invalid:  # masked in the true logits too, so that no label falls on an invalid entry
        drop = torch.rand(n, K, generator=g) < 0.3
        drop[:, 0] = False  # every item keeps a valid class
        drop[:, K - 1] = True  # a class never allowed (e.g. a tag the scheme forbids): a whole -inf column
        true = true.masked_fill(drop, -math.inf)
        z = z.masked_fill(drop, -math.inf)
    y = torch.multinomial(torch.softmax(true, dim=1), 1, generator=g).squeeze(1)
    return z, y


def _pointer(seed: int, n: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L) pointer logits: [CLS] and a context span valid, -inf elsewhere; 30% of items have no answer."""
    g = torch.Generator().manual_seed(seed)
    z = torch.full((n, L), -math.inf, dtype=torch.float64)
    y = torch.zeros(n, dtype=torch.int64)
    for i in range(n):
        lo = int(torch.randint(1, 4, (1,), generator=g))
        hi = int(torch.randint(lo + 3, L + 1, (1,), generator=g))
        z[i, 0] = 0.0
        z[i, lo:hi] = 0.0
        if float(torch.rand(1, generator=g)) > 0.3:
            y[i] = int(torch.randint(lo, hi, (1,), generator=g))
    noise = torch.randn(n, L, generator=g, dtype=torch.float64)
    hit = torch.rand(n, generator=g) < 0.7  # the model puts its peak on the gold position 70% of the time
    peak = torch.where(hit, y, torch.randint(0, L, (n,), generator=g))
    z = z + 2.0 * noise + 4.0 * torch.nn.functional.one_hot(peak, L) - 1.0 * (torch.arange(L) == 0)
    return z, y


def _pointers(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {"start": _pointer(seed), "end": _pointer(seed + 100)}


# --- the independent numpy objectives (value, gradient) -------------------------------------------------
def _np_log_softmax(a: np.ndarray) -> np.ndarray:
    m = a.max(axis=1, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=1, keepdims=True))


def _np_nll_grad(out: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean NLL of softmax(out) and its gradient (P - onehot(y)) / N w.r.t. out (0 at -inf entries)."""
    log_p = _np_log_softmax(out)
    g = np.exp(log_p)
    g[np.arange(len(y)), y] -= 1.0
    return float(-log_p[np.arange(len(y)), y].mean()), g / len(y)


def _np_vector_map(theta: np.ndarray, z: np.ndarray) -> np.ndarray:
    w, b = theta[:K], theta[K:]
    valid = np.isfinite(z)
    return np.where(valid, np.where(valid, z, 0.0) * w + b, -np.inf)


def _np_vector(theta: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    f, g = _np_nll_grad(_np_vector_map(theta, z), y)
    return f, np.concatenate([(g * np.where(np.isfinite(z), z, 0.0)).sum(0), g.sum(0)])


def _np_pointer_map(theta: np.ndarray, z: np.ndarray) -> np.ndarray:
    t, b = np.exp(theta[0]), theta[1]
    valid = np.isfinite(z)
    null = np.zeros(z.shape[1])
    null[0] = 1.0
    return np.where(valid, np.where(valid, z, 0.0) / t + b * null, -np.inf)


def _np_pointer(theta: np.ndarray, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    f, g = _np_nll_grad(_np_pointer_map(theta, z), y)
    zf = np.where(np.isfinite(z), z, 0.0)
    return f, np.array([(g * -zf / np.exp(theta[0])).sum(), g[:, 0].sum()])


def _np_features(z: np.ndarray, dirichlet: bool) -> np.ndarray:
    x = _np_log_softmax(z) if dirichlet else z
    return np.where(np.isfinite(z), x, 0.0)


def _np_linear(
    theta: np.ndarray, z: np.ndarray, y: np.ndarray, lam: float, mu: float, dirichlet: bool
) -> tuple[float, np.ndarray]:
    """Mean NLL of softmax(W x + b) + λ/(K(K-1)) Σ_{i≠j} W_ij² + μ/K Σ b_j², x = z or log softmax(z)."""
    w, b = theta[: K * K].reshape(K, K), theta[K * K :]
    x = _np_features(z, dirichlet)
    off = 1.0 - np.eye(K)
    f, g = _np_nll_grad(np.where(np.isfinite(z), x @ w.T + b, -np.inf), y)
    f += lam / (K * (K - 1)) * ((w * off) ** 2).sum() + mu / K * (b**2).sum()
    grad_w = g.T @ x + 2 * lam / (K * (K - 1)) * w * off
    return f, np.concatenate([grad_w.ravel(), g.sum(0) + 2 * mu / K * b])


def _scipy_min(fun, x0: np.ndarray, *args: object) -> float:
    return float(_scipy_argmin(fun, x0, *args).fun)


def _scipy_argmin(fun, x0: np.ndarray, *args: object):
    """scipy's L-BFGS-B from the identity map, tolerances far below the 1e-4 compared."""
    return minimize(
        fun, x0, args=args, jac=True, method="L-BFGS-B", options={"maxiter": 10_000, "gtol": 1e-10}
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


IDENTITY_LINEAR = np.concatenate([np.eye(K).ravel(), np.zeros(K)])
IDENTITY_VECTOR = np.concatenate([np.ones(K), np.zeros(K)])


# --- temperature ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("invalid", [False, True])
def test_temperature_equals_fit_temperature_on_classes(invalid: bool) -> None:
    z, y = _classes(0, invalid=invalid)
    scaler = TemperatureScaler().fit({"logits": (z, y)}, "classes")
    assert scaler.fitted() == {"temperature": pytest.approx(fit_temperature(z, y), rel=1e-12)}
    out = scaler.apply({"logits": z})["logits"]
    torch.testing.assert_close(out, z / scaler.temperature)
    assert torch.equal(out.argmax(1), z.argmax(1))  # a temperature never changes the prediction
    assert calibration_report(z, y, scaler.temperature)["nll"] <= calibration_report(z, y)["nll"]


def test_temperature_on_pointers_pools_start_and_end() -> None:
    heads = _pointers(1)
    scaler = TemperatureScaler().fit(heads, "pointer")
    pooled_z = torch.cat([heads["start"][0], heads["end"][0]])
    pooled_y = torch.cat([heads["start"][1], heads["end"][1]])
    assert scaler.temperature == pytest.approx(fit_temperature(pooled_z, pooled_y), rel=1e-9)
    assert scaler.temperature != pytest.approx(fit_temperature(*heads["start"]), rel=1e-3)  # really pooled
    out = scaler.apply({h: z for h, (z, _) in heads.items()})
    for h, (z, _) in heads.items():
        assert torch.equal(torch.isinf(out[h]), torch.isinf(z))
        assert torch.equal(out[h].argmax(1), z.argmax(1))


# --- vector --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("invalid", [False, True])
def test_vector_classes_is_the_minimiser(invalid: bool) -> None:
    z, y = _classes(2, invalid=invalid)
    scaler = VectorScaler().fit({"logits": (z, y)}, "classes")
    assert scaler.weight is not None and scaler.bias is not None
    theta = np.concatenate([_np(scaler.weight), _np(scaler.bias)])
    zn, yn = _np(z), _np(y)
    ours = _np_vector(theta, zn, yn)[0]
    assert ours == pytest.approx(_scipy_min(_np_vector, IDENTITY_VECTOR, zn, yn), abs=1e-4)
    assert ours < _np_vector(IDENTITY_VECTOR, zn, yn)[0] - 1e-3
    np.testing.assert_allclose(_np(scaler.apply({"logits": z})["logits"]), _np_vector_map(theta, zn))
    assert set(scaler.fitted()) == {"weight_trace_mean", "bias_norm"}


def test_vector_pointer_is_the_per_head_minimiser() -> None:
    heads = _pointers(3)
    scaler = VectorScaler().fit(heads, "pointer")
    fitted = scaler.fitted()
    assert set(fitted) == {"temperature_start", "temperature_end", "null_bias_start", "null_bias_end"}
    out = scaler.apply({h: z for h, (z, _) in heads.items()})
    for h, (z, y) in heads.items():
        theta = np.array([math.log(fitted[f"temperature_{h}"]), fitted[f"null_bias_{h}"]])
        zn, yn = _np(z), _np(y)
        ours = _np_pointer(theta, zn, yn)[0]
        assert ours == pytest.approx(_scipy_min(_np_pointer, np.zeros(2), zn, yn), abs=1e-4)
        assert ours < _np_pointer(np.zeros(2), zn, yn)[0] - 1e-3
        np.testing.assert_allclose(_np(out[h]), _np_pointer_map(theta, zn))
    assert fitted["null_bias_start"] > 0.3  # the data's [CLS] logit is 1 too low: the bias finds it


def test_vector_pointer_with_zero_bias_is_a_per_head_temperature() -> None:
    heads = _pointers(4)
    scaler = VectorScaler().fit(heads, "pointer")
    scaler.null_biases = {"start": 0.0, "end": 0.0}
    out = scaler.apply({h: z for h, (z, _) in heads.items()})
    for h, (z, _) in heads.items():
        torch.testing.assert_close(out[h], z / scaler.temperatures[h])
    # Where no window has a valid [CLS] entry the bias has nothing to act on: the fit is fit_temperature's.
    masked = {}
    for h, (z, y) in heads.items():
        keep = y > 0
        masked[h] = (z[keep].index_fill(1, torch.tensor([0]), -math.inf), y[keep])
    scaler = VectorScaler().fit(masked, "pointer")
    for h, (z, y) in masked.items():
        assert scaler.null_biases[h] == 0.0
        assert scaler.temperatures[h] == pytest.approx(fit_temperature(z, y), rel=1e-6)


# --- matrix and dirichlet ------------------------------------------------------------------------------
@pytest.mark.parametrize("dirichlet", [False, True], ids=["matrix", "dirichlet"])
@pytest.mark.parametrize("lam, mu", [(0.0, 0.0), (0.01, 0.01), (1.0, 0.5)])
@pytest.mark.parametrize("invalid", [False, True])
def test_linear_maps_are_the_minimiser(dirichlet: bool, lam: float, mu: float, invalid: bool) -> None:
    z, y = _classes(5, invalid=invalid)
    cls = DirichletScaler if dirichlet else MatrixScaler
    scaler = cls(reg_off_diagonal=lam, reg_bias=mu).fit({"logits": (z, y)}, "classes")
    assert scaler.weight is not None and scaler.bias is not None
    theta = np.concatenate([_np(scaler.weight).ravel(), _np(scaler.bias)])
    zn, yn = _np(z), _np(y)
    args = (zn, yn, lam, mu, dirichlet)
    ours = _np_linear(theta, *args)[0]
    best = _scipy_argmin(_np_linear, IDENTITY_LINEAR, *args)
    assert ours == pytest.approx(best.fun, abs=1e-4)
    if lam >= 1.0:  # a strong ODIR leaves no flat direction (e.g. the softmax shift): one minimiser
        np.testing.assert_allclose(theta, best.x, atol=2e-3)
    assert ours == pytest.approx(float(scaler.objective(scaler.weight, scaler.bias, z, y)), abs=1e-10)
    assert ours < _np_linear(IDENTITY_LINEAR, *args)[0] - 1e-3
    out = _np(scaler.apply({"logits": z})["logits"])
    expected = np.where(
        np.isfinite(zn), _np_features(zn, dirichlet) @ _np(scaler.weight).T + _np(scaler.bias), -np.inf
    )
    np.testing.assert_allclose(out, expected)  # includes: -inf exactly where the input was -inf
    assert np.isfinite(out[np.isfinite(zn)]).all()  # the always-invalid column leaked into no valid entry
    assert set(scaler.fitted()) == {"weight_trace_mean", "weight_off_diagonal_norm", "bias_norm"}


def test_dirichlet_unregularised_is_matrix_scaling_of_log_probs() -> None:
    z, y = _classes(6, invalid=True)
    dirichlet = DirichletScaler(reg_off_diagonal=0.0, reg_bias=0.0).fit({"h": (z, y)}, "classes")
    log_p = torch.log_softmax(z, dim=1)
    matrix = MatrixScaler().fit({"h": (log_p, y)}, "classes")
    a, b = dirichlet.apply({"h": z})["h"], matrix.apply({"h": log_p})["h"]
    torch.testing.assert_close(torch.log_softmax(a, 1), torch.log_softmax(b, 1), atol=1e-5, rtol=0)
    with pytest.raises(AssertionError):  # and differs from matrix scaling of the logits themselves
        c = MatrixScaler().fit({"h": (z, y)}, "classes").apply({"h": z})["h"]
        torch.testing.assert_close(torch.log_softmax(a, 1), torch.log_softmax(c, 1), atol=1e-3, rtol=0)


def test_odir_penalty_by_brute_force() -> None:
    g = torch.Generator().manual_seed(7)
    for k in (1, 2, 5):
        w, b = (
            torch.randn(k, k, generator=g, dtype=torch.float64),
            torch.randn(k, generator=g, dtype=torch.float64),
        )
        off = sum(float(w[i, j]) ** 2 for i in range(k) for j in range(k) if i != j)
        expected = (0.3 * off / (k * (k - 1)) if k > 1 else 0.0) + 0.7 * sum(float(v) ** 2 for v in b) / k
        assert float(odir_penalty(w, b, 0.3, 0.7)) == pytest.approx(expected, rel=1e-12)
    assert float(odir_penalty(torch.eye(4, dtype=torch.float64), torch.zeros(4), 5.0, 5.0)) == 0.0


# --- reference implementation, where installed ---------------------------------------------------------
@pytest.mark.parametrize("method", ["temperature", "vector", "matrix", "dirichlet"])
def test_matches_dirichletcal(method: str) -> None:
    pytest.importorskip("dirichletcal")
    from dirichletcal.calib.fulldirichlet import FullDirichletCalibrator
    from dirichletcal.calib.multinomial import MultinomialRegression

    z, y = _classes(8)
    zn, yn = _np(z), _np(y)
    lam, mu = 0.2, 0.1
    if method == "dirichlet":
        ref = FullDirichletCalibrator(reg_lambda=lam, reg_mu=mu, reg_norm=True, ref_row=False)
        ref.fit(np.exp(_np_log_softmax(zn)), yn)
    else:
        kind = {"temperature": "FixDiag", "vector": "Diag", "matrix": "Full"}[method]
        ref = MultinomialRegression(method=kind, ref_row=False).fit(zn, yn)
    weights = np.asarray(ref.weights_ if method != "dirichlet" else ref.weights)  # [W | b], (K, K + 1)
    theta = np.concatenate([weights[:, :K].ravel(), weights[:, K]])
    ours_cls = {"temperature": TemperatureScaler, "vector": VectorScaler, "matrix": MatrixScaler}
    if method == "dirichlet":
        ours = DirichletScaler(reg_off_diagonal=lam, reg_bias=mu).fit({"h": (z, y)}, "classes")
        assert ours.weight is not None and ours.bias is not None
        mine = np.concatenate([_np(ours.weight).ravel(), _np(ours.bias)])
        assert _np_linear(mine, zn, yn, lam, mu, True)[0] == pytest.approx(
            _np_linear(theta, zn, yn, lam, mu, True)[0], abs=1e-4
        )
        np.testing.assert_allclose(mine, theta, atol=2e-3)  # ODIR's minimiser is unique
        return
    out = ours_cls[method]().fit({"h": (z, y)}, "classes").apply({"h": z})["h"]
    ref_nll = _np_nll_grad(_np_features(zn, False) @ weights[:, :K].T + weights[:, K], yn)[0]
    assert _np_nll_grad(_np(out), yn)[0] == pytest.approx(ref_nll, abs=1e-4)


# --- invariants and refusals ---------------------------------------------------------------------------
ALL = [TemperatureScaler, VectorScaler, MatrixScaler, DirichletScaler]


@pytest.mark.parametrize("cls", ALL)
def test_fits_and_applies_inside_inference_mode(cls: type) -> None:
    z, y = _classes(9, invalid=True)
    with torch.inference_mode():
        scaler = cls().fit({"logits": (z, y)}, "classes")
        out = scaler.apply({"logits": z})["logits"]
    assert out.dtype == torch.float64 and out.shape == z.shape
    assert torch.equal(torch.isinf(out), torch.isinf(z)) and bool((out[torch.isinf(out)] < 0).all())
    assert calibration_report(out, y)["nll"] < calibration_report(z, y)["nll"]  # never worse, here better
    assert all(math.isfinite(v) for v in scaler.fitted().values())


@pytest.mark.parametrize("cls", ALL)
def test_even_one_iteration_starts_from_the_identity_map(cls: type) -> None:
    """On calibrated logits the identity is near-optimal: a fit that started elsewhere (say at W = 0, the
    uniform distribution) would be worse after one LBFGS iteration, one started at the identity is not."""
    g = torch.Generator().manual_seed(13)
    z = 3.0 * torch.randn(500, K, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z, dim=1), 1, generator=g).squeeze(1)
    scaler = cls(max_iter=1).fit({"logits": (z, y)}, "classes")
    after = calibration_report(scaler.apply({"logits": z})["logits"], y)["nll"]
    if isinstance(scaler, MatrixScaler):
        assert scaler.weight is not None and scaler.bias is not None
        after = float(scaler.objective(scaler.weight, scaler.bias, z, y))  # NLL + ODIR; 0 at the identity
    assert after <= calibration_report(z, y)["nll"] + 1e-12


@pytest.mark.parametrize("cls", [MatrixScaler, DirichletScaler])
def test_class_maps_refuse_pointer_heads_in_one_line(cls: type) -> None:
    for call in (lambda: cls().check_kind("pointer"), lambda: cls().fit(_pointers(10), "pointer")):
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg and msg.startswith(f"calibration={cls.name}: ")
        assert "QA's start/end pointers" in msg and "positions are not classes" in msg
        assert msg.endswith("use calibration=temperature or calibration=vector")
    for ok in (TemperatureScaler, VectorScaler):
        ok().check_kind("pointer")


@pytest.mark.parametrize("cls", ALL)
def test_apply_or_fitted_before_fit_raises(cls: type) -> None:
    with pytest.raises(RuntimeError, match=f"calibration={cls.name}: not fitted"):
        cls().apply({"logits": torch.zeros(2, K)})
    with pytest.raises(RuntimeError, match="not fitted"):
        cls().fitted()


@pytest.mark.parametrize("cls", ALL)
def test_empty_validation_is_one_line(cls: type) -> None:
    with pytest.raises(ValueError) as info:
        cls().fit({"logits": (torch.zeros(0, K), torch.zeros(0, dtype=torch.int64))}, "classes")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"calibration={cls.name}: the validation set is empty")
    if cls is TemperatureScaler:
        assert msg == EMPTY_VAL


def test_bad_heads_kinds_and_arguments() -> None:
    z, y = _classes(11)
    with pytest.raises(ValueError, match="expected exactly one"):
        VectorScaler().fit({"a": (z, y), "b": (z, y)}, "classes")
    with pytest.raises(ValueError, match="pointer heads"):
        VectorScaler().fit({"start": (z, y)}, "pointer")
    with pytest.raises(ValueError, match="head kind 'tokens'"):
        TemperatureScaler().fit({"logits": (z, y)}, "tokens")
    with pytest.raises(ValueError, match="head 'logits': labels"):
        MatrixScaler().fit({"logits": (z, y + K)}, "classes")
    fitted = MatrixScaler().fit({"logits": (z, y)}, "classes")
    with pytest.raises(ValueError, match="3 classes, fitted on 5"):
        fitted.apply({"logits": z[:, :3]})
    with pytest.raises(ValueError, match="fitted on"):
        fitted.apply({"other": z})
    with pytest.raises(ValueError, match="reg_bias=-1"):
        DirichletScaler(reg_bias=-1.0)


@pytest.mark.parametrize("cls", [VectorScaler, MatrixScaler])
def test_a_diverged_fit_raises_one_line(cls: type, monkeypatch: pytest.MonkeyPatch) -> None:
    def diverge(self: torch.optim.LBFGS, closure: object) -> None:
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.fill_(math.inf)

    monkeypatch.setattr(torch.optim.LBFGS, "step", diverge)
    with pytest.raises(ValueError) as info:
        cls().fit({"logits": _classes(12)}, "classes")
    assert "\n" not in str(info.value) and f"calibration={cls.name}: the fit diverged" in str(info.value)
