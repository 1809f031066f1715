"""Post-hoc calibration: T recovers a known temperature, never worsens NLL, handles -inf; the callback
fits on validation only, reports every level's estimators after calibration; its YAML keys are its args."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from labelsmooth.callbacks import PostHocCalibration
from labelsmooth.metrics import calibrators
from labelsmooth.metrics.calibration import calibration_report, fit_temperature
from labelsmooth.metrics.levels import ClassLevel, level_metrics
from labelsmooth.smoothing import Head, NoSmoothing
from labelsmooth.tasks.base import Decoded, TaskModule

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"


def _calibrated(seed: int, n: int, k: int, scale: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits z and labels drawn from softmax(z): a perfectly calibrated model, so the best T is 1."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g) * scale
    return z, torch.multinomial(torch.softmax(z, dim=1), 1, generator=g).squeeze(1)


@pytest.mark.parametrize("factor", [1 / 3, 2.5])
def test_recovers_a_known_temperature(factor: float) -> None:
    z, y = _calibrated(0, 6000, 10)
    assert fit_temperature(z * factor, y) == pytest.approx(factor, rel=0.05)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 200), k=st.integers(2, 8), scale=st.floats(0.1, 8.0))
def test_nll_after_is_never_worse(seed: int, n: int, k: int, scale: float) -> None:
    g = torch.Generator().manual_seed(seed)
    z, y = torch.randn(n, k, generator=g) * scale, torch.randint(0, k, (n,), generator=g)
    t = fit_temperature(z, y)
    assert t > 0
    assert calibration_report(z, y, temperature=t)["nll"] <= calibration_report(z, y)["nll"] + 1e-9


def test_neg_inf_entries_match_a_huge_negative_logit() -> None:
    z, y = _calibrated(1, 2000, 6)
    invalid = torch.rand(z.shape, generator=torch.Generator().manual_seed(2)) < 0.4
    invalid[torch.arange(len(y)), y] = False  # the gold entry is always valid
    t_inf = fit_temperature(z.masked_fill(invalid, -torch.inf) / 2, y)
    t_big = fit_temperature(z.masked_fill(invalid, -1e4) / 2, y)  # exp(-1e4 / T) underflows to 0 as well
    assert t_inf == pytest.approx(t_big, rel=1e-6)
    assert t_inf == pytest.approx(0.5, rel=0.1)


def test_fits_inside_inference_mode() -> None:
    z, y = _calibrated(3, 1000, 5)
    with torch.inference_mode():
        zi, yi = z * 3, y.clone()
        t = fit_temperature(zi, yi)
    assert t == pytest.approx(3.0, rel=0.1)


def test_empty_validation_set_raises_the_one_line_error() -> None:
    msg = "calibration=temperature: the validation set is empty; there are no logits to fit a temperature on"
    with pytest.raises(ValueError, match=msg):
        fit_temperature(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))


# --- end to end with a real Trainer ---------------------------------------------------------------------


class TinyTask(TaskModule):
    """A linear classifier on the real TaskModule loop (gather, decode, levels), as the image task is."""

    task_name = "tiny"
    head_kinds = ("classes",)
    levels = {"example": "classes"}

    def __init__(self, k: int = 4, d: int = 8) -> None:
        super().__init__(None, 0.0, False)
        self.layer = nn.Linear(d, k)
        self.smoothing = NoSmoothing()

    def heads(self, batch):
        x, y, _ = batch
        # Over-confident on purpose (x 4), and one -inf column like a padded pointer head.
        logits = torch.cat([self.layer(x) * 4, torch.full((len(y), 1), -torch.inf)], dim=1)
        return [Head("classes", logits, y, None, "classes")]

    def collect(self, batch, heads):
        return {"logits": heads[0].logits.detach().cpu(), "labels": batch[1].cpu(), "index": batch[2].cpu()}

    def decode(self, outputs, split):
        logits, labels = outputs["logits"], outputs["labels"]
        accuracy = float((logits.argmax(1) == labels).double().mean())
        return Decoded({"accuracy": accuracy}, logits, labels, levels={"example": ClassLevel(logits, labels)})

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def _loader(seed: int, n: int = 256, k: int = 4, d: int = 8) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, :k] + 0.8 * torch.randn(n, k, generator=g)).argmax(1)
    return DataLoader(TensorDataset(x, y, torch.arange(n)), batch_size=64)


def _trainer(tmp_path: Path, callback: pl.Callback) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=2,
        logger=CSVLogger(tmp_path, name="csv", version=""),
        callbacks=[callback],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        log_every_n_steps=1,
        accelerator="cpu",
    )


def test_temperature_callback_end_to_end(tmp_path: Path) -> None:
    pl.seed_everything(0)
    callback = PostHocCalibration(calibrators.TemperatureScaler(max_iter=100), n_bins=15, rounds=50)
    trainer, module = _trainer(tmp_path, callback), TinyTask()
    trainer.fit(module, _loader(0), _loader(1))
    assert not callback.fitted  # validation epochs during fit do not fit T
    assert "val/temperature" not in trainer.callback_metrics

    # A different val set than during fit: T must come from this validation's logits, not stale ones.
    trainer.validate(module, _loader(3), verbose=False)
    val_logits, val_labels = module.eval_results["val"][1].logits, module.eval_results["val"][1].labels
    metrics = trainer.callback_metrics
    expected_t = fit_temperature(val_logits, val_labels)
    assert float(metrics["val/temperature"]) == pytest.approx(expected_t)
    assert expected_t > 1.5  # the x 4 over-confidence is undone
    after = calibration_report(val_logits, val_labels, temperature=expected_t)
    assert float(metrics["val/ece_ts"]) == pytest.approx(after["ece"])
    assert float(metrics["val/nll_ts"]) < float(metrics["val/nll"])  # the module's own, before scaling
    assert float(metrics["val/example/nll_ts"]) == pytest.approx(after["nll"])
    assert {"val/mce_ts", "val/ece", "val/example/smece", "val/example/smece_ts"} <= set(metrics)

    trainer.test(module, _loader(2), verbose=False)
    test_logits, test_labels = module.eval_results["test"][1].logits, module.eval_results["test"][1].labels
    metrics = trainer.callback_metrics
    assert float(metrics["test/temperature"]) == pytest.approx(expected_t)
    after = calibration_report(test_logits, test_labels, temperature=expected_t)
    assert float(metrics["test/ece_ts"]) == pytest.approx(after["ece"])
    assert float(metrics["test/nll_ts"]) == pytest.approx(after["nll"])
    # Every estimator after calibration is the one of the scaled logits' level (the one eval path).
    scaled = level_metrics({"example": ClassLevel(test_logits / expected_t, test_labels)}, "_ts")
    for name, value in scaled.items():
        assert float(metrics[f"test/{name}"]) == pytest.approx(value, rel=1e-6, abs=1e-6), name
    assert (tmp_path / "calibration_test_ts.json").is_file()
    assert (tmp_path / "reliability_test_example_ts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    with open(tmp_path / "csv" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = {k for row in rows for k, v in row.items() if v}
    assert {"val/temperature", "val/ece_ts", "val/nll_ts", "test/ece_ts", "test/temperature"} <= logged
    assert {"test/example/aurc_ts", "test/example/ece_mass_ts"} <= logged


@pytest.mark.parametrize("calibrator", ["VectorScaler", "MatrixScaler", "DirichletScaler"])
def test_other_calibrators_fit_on_validation_and_lower_its_nll(tmp_path: Path, calibrator: str) -> None:
    pl.seed_everything(0)
    scaler = getattr(calibrators, calibrator)(max_iter=200)
    callback = PostHocCalibration(scaler, n_bins=15, rounds=20)
    trainer, module = _trainer(tmp_path, callback), TinyTask()
    trainer.fit(module, _loader(0), _loader(1))
    trainer.validate(module, _loader(3), verbose=False)
    suffix = "_" + scaler.suffix
    metrics = trainer.callback_metrics
    assert float(metrics[f"val/example/nll{suffix}"]) < float(metrics["val/example/nll"])
    trainer.test(module, _loader(2), verbose=False)
    assert f"test/example/ece_classwise{suffix}" in trainer.callback_metrics


def test_test_without_validate_raises(tmp_path: Path) -> None:
    trainer = _trainer(tmp_path, PostHocCalibration(calibrators.TemperatureScaler()))
    with pytest.raises(RuntimeError, match="not fitted"):
        trainer.test(TinyTask(), _loader(2), verbose=False)


def test_yaml_keys_are_the_constructor_args() -> None:
    cs = ConfigStore.instance()
    choices = ("none", "temperature", "vector", "matrix", "dirichlet")
    for choice in choices:
        cs.store(
            name=f"calib_{choice}", node={"defaults": ["_self_", {"calibration": choice}], "callbacks": {}}
        )
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        assert compose(config_name="calib_none").callbacks == {}
        for choice in choices[1:]:
            cfg = compose(config_name=f"calib_{choice}")
            callback = instantiate(cfg.callbacks.calibration)
            assert isinstance(callback, PostHocCalibration)
            assert callback.calibrator.name == choice
            assert callback.n_bins == 15
