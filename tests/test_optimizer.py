"""BERT's optimiser recipe: weight decay on weight matrices only, fused AdamW, warm-up then linear decay."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from conftest import ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from labelsmooth.tasks.base import decay_groups


def test_decay_groups_exempt_biases_and_layernorm_weights_only():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", ["task=ner", "model=tiny"])
    module = instantiate(cfg.task.module)
    decay, exempt = decay_groups(module, 0.01)
    names = {id(p): n for n, p in module.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    exempted = {names[id(p)] for p in exempt["params"]}
    assert decay["weight_decay"] == 0.01 and exempt["weight_decay"] == 0.0
    assert decayed | exempted == set(names.values()) and not decayed & exempted
    assert all(n.endswith(".bias") or "LayerNorm" in n for n in exempted), sorted(exempted)
    assert any("LayerNorm" in n for n in exempted) and "classifier.bias" in exempted
    # every matrix decays: the embeddings, the attention and feed-forward weights, the classifier
    assert {"classifier.weight", "encoder.embeddings.word_embeddings.weight"} <= decayed
    assert all(n.endswith(".weight") and "LayerNorm" not in n for n in decayed)


def test_the_configured_optimizer_is_fused_adamw_with_those_groups():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", ["task=ner", "model=tiny"])
    module = instantiate(cfg.task.module)
    optimizer = module.optimizer_factory(params=decay_groups(module, 0.01))
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.01, 0.0]


# The learning rate of each of 12 steps (lr 1, warmup_ratio 1/3: 4 warm-up steps), written out by hand:
# 0, 1/4, 2/4, 3/4 while warming up from 0, then (12 - s) / 8 down to 1/8 at the last step.
LINEAR = [0.0, 0.25, 0.5, 0.75, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
CONSTANT = [0.0, 0.25, 0.5, 0.75] + [1.0] * 8


@pytest.mark.parametrize(("lr_decay", "expected"), [(True, LINEAR), (False, CONSTANT)])
def test_the_learning_rate_of_every_step_warms_up_then_decays_or_stays(tmp_path, lr_decay, expected):
    """What the module's configure_optimizers gives a real fit: 12 steps (3 epochs of 4 batches)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from labelsmooth.callbacks import SmoothingCallback
    from labelsmooth.models.specs import MLPSpec
    from labelsmooth.smoothing import NoSmoothing
    from labelsmooth.tasks.image import ImageModule

    seen: list[float] = []

    class LearningRates(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    data = TensorDataset(torch.randn(16, 4), torch.randint(0, 3, (16,)), torch.arange(16))
    sgd = partial(torch.optim.SGD, lr=1.0)
    module = ImageModule(MLPSpec(hidden=5), 4, 3, optimizer=sgd, warmup_ratio=1 / 3, lr_decay=lr_decay)
    trainer = pl.Trainer(
        max_epochs=3,
        callbacks=[SmoothingCallback(NoSmoothing()), LearningRates()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=4))
    assert seen == pytest.approx(expected, abs=1e-12)


def test_a_task_module_fitted_without_a_smoothing_stops(tmp_path):
    """No silent plain cross-entropy: training needs the SmoothingCallback (`smoothing=none` for plain CE)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from labelsmooth.models.specs import MLPSpec
    from labelsmooth.tasks.image import ImageModule

    data = TensorDataset(torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.arange(8))
    sgd = partial(torch.optim.SGD, lr=0.1)
    module = ImageModule(MLPSpec(hidden=5), in_features=4, num_classes=3, optimizer=sgd)
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match="no smoothing attached; training needs callbacks.smoothing"):
        trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=4))


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_gradients_are_clipped_with_the_fused_optimizer_in_full_and_bf16_precision(tmp_path, precision):
    """trainer=gpu is bf16-mixed with fused AdamW and gradient_clip_val. Lightning's mixed-precision plugin
    would refuse to clip (it guards 16-mixed's scaled gradients); bf16 has no scaler: clipped as in 32."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    from labelsmooth.callbacks import SmoothingCallback
    from labelsmooth.models.specs import MLPSpec
    from labelsmooth.smoothing import NoSmoothing
    from labelsmooth.tasks.image import ImageModule

    norms: dict[str, list[float]] = {"before": [], "after": []}

    def total_norm(module: torch.nn.Module) -> float:
        grads = [p.grad.norm() for p in module.parameters() if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack(grads)).item()

    class Recorded(ImageModule):
        def on_before_optimizer_step(self, optimizer) -> None:  # after backward, before clipping
            norms["before"].append(total_norm(self))

        def configure_optimizers(self):  # the closure (backward, clipping) runs inside step: hook its end
            config = super().configure_optimizers()
            config["optimizer"].register_step_post_hook(lambda *_: norms["after"].append(total_norm(self)))
            return config

    torch.manual_seed(0)
    data = TensorDataset(100 * torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.arange(8))
    adamw = partial(torch.optim.AdamW, lr=1e-3, fused=True)
    module = Recorded(MLPSpec(hidden=5), in_features=4, num_classes=3, optimizer=adamw)
    trainer = pl.Trainer(
        max_steps=2,
        precision=precision,
        gradient_clip_val=0.01,
        callbacks=[SmoothingCallback(NoSmoothing())],
        logger=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=4))
    assert len(norms["after"]) == 2 and min(norms["before"]) > 0.1
    assert norms["after"] == pytest.approx([0.01, 0.01], rel=1e-3)


def test_16_mixed_precision_clips_the_unscaled_gradients_of_the_fused_optimizer(tmp_path):
    """trainer.precision=16-mixed on a GPU: GradScaler's scaled gradients, fused AdamW and clipping.
    Lightning's plugin refused to clip there (the crash at the first step); the task module unscales, then
    clips. The same plugin runs on the CPU here (torch's GradScaler works on both): tested without a GPU."""
    import pytorch_lightning as pl
    from pytorch_lightning.plugins.precision import MixedPrecision
    from torch.utils.data import DataLoader, TensorDataset

    from labelsmooth.callbacks import SmoothingCallback
    from labelsmooth.models.specs import MLPSpec
    from labelsmooth.smoothing import NoSmoothing
    from labelsmooth.tasks.image import ImageModule

    after: list[float] = []

    class Recorded(ImageModule):
        def configure_optimizers(self):
            config = super().configure_optimizers()
            config["optimizer"].register_step_post_hook(
                lambda *_: after.append(
                    torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in self.parameters()])).item()
                )
            )
            return config

    torch.manual_seed(0)
    data = TensorDataset(3 * torch.randn(8, 4), torch.randint(0, 3, (8,)), torch.arange(8))
    adamw = partial(torch.optim.AdamW, lr=1e-3, fused=True)
    module = Recorded(MLPSpec(hidden=5), in_features=4, num_classes=3, optimizer=adamw)
    before = [p.detach().clone() for p in module.parameters()]
    plugin = MixedPrecision("16-mixed", "cpu")
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        plugins=[plugin],
        gradient_clip_val=0.01,
        callbacks=[SmoothingCallback(NoSmoothing())],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=4))
    # Both steps taken (no inf skipped them: the scale never fell), on gradients clipped to norm 0.01.
    assert plugin.scaler.get_scale() == 65536.0
    assert after == pytest.approx([0.01, 0.01], rel=1e-3)
    assert all(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
