"""Smooth ECE (Błasiok & Nakkiran 2023), computed as the authors' package `relplot` (1.0.3) computes it.

For predictions f_i ∈ [0, 1] with outcomes y_i ∈ {0, 1} and residuals r_i = f_i − y_i, kernel smoothing with
a Gaussian kernel K_σ reflected at 0 and 1 gives the smoothed residual and density on [0, 1]

    ρ(t) = Σ_i K_σ(t, f_i)·r_i / (δ(t) + 1e-4),   δ(t) = Σ_i K_σ(t, f_i),
    smECE_σ = Σ_t |ρ(t)|·(δ(t) + 1e-4) / Σ_t (δ(t) + 1e-4),   t over an even mesh of max(round(10/σ), 200)
    points on [0, 1],

and smECE = smECE_σ* at the fixed point σ* = smECE_σ* (smECE_σ decreases in σ, so σ − smECE_σ has one
sign change). relplot's discretisation, kept here so the numbers agree:
- the sums over items are splatted onto a grid of M = max(2000, round(20/σ)) // 2 + 1 points on [0, 1] by
  linear interpolation between the two nearest grid points (`smooth_round_to_grid`);
- the kernel is the N(0, σ²) density sampled on the same grid spacing over [−1/2, 1/2], convolved with the
  grid values mirrored once about each end point (`ReflectedGaussianKernel.convolve`);
- the smoothed grid is read at the mesh points by linear interpolation (`interpolate`);
- σ* comes from a bisection on [0, 1] (`search_param`): σ = 1 if 1 < smECE_1 (never, as |ρ| ≤ 1), else
  10 halvings that keep the upper end, where σ ≥ smECE_σ (a σ below 1e-3 counts as too small), so σ* is
  resolved to 2⁻¹⁰ with 11 evaluations plus the final one.
The one difference: the convolutions are done by FFT (scipy.signal.fftconvolve) rather than np.convolve,
which agrees to rounding error and keeps small σ (large M) fast.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve
from torch import Tensor

from labelsmooth.metrics.selective import check_confidence

# relplot: config.smECE_mesh_pts, the `eps` of smECE (smallest bandwidth tried) and its bisection depth.
MESH_POINTS = 200
MIN_SIGMA = 1e-3
REFINE_STEPS = 10
# relplot's BaseKernelMixin.smooth adds this to the density so that empty regions divide by a constant.
DENSITY_EPS = 1e-4


def _splat(f: np.ndarray, values: np.ndarray, points: int) -> np.ndarray:
    """Spread each value onto the two grid points around f, linearly (relplot's smooth_round_to_grid)."""
    pos = f * (points - 1)
    left = pos.astype(np.int64).clip(0, points - 2)  # f = 1 lands on the last cell with weight 1 to its right
    frac = pos - left
    grid = np.bincount(left, weights=(1 - frac) * values, minlength=points)
    return grid + np.bincount(left + 1, weights=frac * values, minlength=points)


def _reflected_smooth(grid: np.ndarray, sigma: float) -> np.ndarray:
    """Convolve grid values with a Gaussian density mirrored about both end points (relplot's convolve)."""
    m = grid.size
    t = np.linspace(0, 1, m)
    kernel = np.exp(-(t - 0.5) * (t - 0.5) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    # [v_{m-1} .. v_1, v_0 .. v_{m-1}, v_{m-2} .. v_0]: mass within 1/2 of an end is reflected back once.
    extended = np.concatenate([grid[::-1][:-1], grid, grid[::-1][1:]])
    return fftconvolve(extended, kernel, mode="valid")[m // 2 : m // 2 + m]


def _interpolate(t: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Piecewise-linear read-out of grid values at points t ∈ [0, 1] (relplot's interpolate)."""
    cells = grid.size - 1
    step = 1 / cells
    left = (t * cells).astype(np.int64).clip(0, cells - 1)
    frac = (t - left * step) / step
    return grid[left] * (1 - frac) + grid[left + 1] * frac


def smooth_ece_at(f: np.ndarray, residual: np.ndarray, sigma: float) -> float:
    """smECE_σ of float64 predictions f and residuals f − y at a fixed bandwidth σ (relplot's smooth_ece)."""
    mesh = np.linspace(0, 1, max(round(10 / sigma), MESH_POINTS))
    points = max(2000, round(20 / sigma)) // 2 + 1
    sums = _reflected_smooth(_splat(f, residual, points), sigma)
    density = _reflected_smooth(_splat(f, np.ones_like(f), points), sigma)
    r_mesh = _interpolate(mesh, sums)
    d_mesh = _interpolate(mesh, density) + DENSITY_EPS
    return float(np.sum(np.abs(r_mesh / d_mesh) * d_mesh) / np.sum(d_mesh))


def smooth_ece(confidence: Tensor, correct: Tensor) -> float:
    """smECE at the fixed-point bandwidth σ* = smECE_σ*, as relplot.smECE (reflected Gaussian kernel)."""
    f, y = check_confidence(confidence, correct)
    residual = f - y

    def too_small(sigma: float) -> bool:
        # σ is left of the fixed point while it is below smECE_σ (or below the smallest bandwidth tried).
        return sigma < MIN_SIGMA or sigma < smooth_ece_at(f, residual, sigma)

    sigma = 1.0
    if not too_small(sigma):  # always taken: |ρ| ≤ 1, so smECE_1 ≤ 1; relplot checks it all the same
        upper, lower = 1.0, 0.0
        for _ in range(REFINE_STEPS):
            mid = (upper + lower) / 2
            if too_small(mid):
                lower = mid
            else:
                upper = mid
        sigma = upper
    return smooth_ece_at(f, residual, sigma)
