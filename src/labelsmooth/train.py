"""train(cfg): build what the config names, fit, evaluate the best checkpoint, write metrics.json."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def _instantiate_group(group: DictConfig | None) -> list:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers) that has a `_target_`."""
    if not group:
        return []
    return [
        instantiate(node) for node in group.values() if isinstance(node, DictConfig) and "_target_" in node
    ]


def _split_metrics(metrics: dict, split: str) -> dict[str, float]:
    """The scalar metrics of one split (`val/…` or `test/…`) as plain floats."""
    return {k: float(v) for k, v in sorted(metrics.items()) if k.startswith(f"{split}/")}


def train(cfg: DictConfig) -> float:
    """Run one job and return `cfg.optimized_metric` (for Hydra sweepers); always closes the W&B run."""
    try:
        pl.seed_everything(cfg.seed, workers=True)
        # Callbacks first: they carry the smoothing, whose bad values should fail before any model loads.
        callbacks = _instantiate_group(cfg.get("callbacks"))
        loggers = _instantiate_group(cfg.get("logger"))
        datamodule = instantiate(cfg.task.datamodule)
        module = instantiate(cfg.task.module)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
        for logger in trainer.loggers:
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))

        trainer.fit(module, datamodule=datamodule)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        # fast_dev_run saves no checkpoint: evaluate the weights in memory then. Our own checkpoints hold
        # the model specs (dataclasses), which torch.load only reads with weights_only=False.
        ckpt_path = best or None
        trainer.validate(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        metrics = _split_metrics(trainer.callback_metrics, "val")
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
        metrics |= _split_metrics(trainer.callback_metrics, "test")
        metrics["best_checkpoint"] = best
        out = Path(cfg.paths.output_dir) / "metrics.json"
        out.write_text(json.dumps(metrics, indent=2) + "\n")
        log.info("metrics: %s", out)
        if cfg.optimized_metric not in metrics:
            raise KeyError(
                f"optimized_metric={cfg.optimized_metric}: not among the metrics {sorted(metrics)}"
            )
        return metrics[cfg.optimized_metric]
    finally:
        import wandb

        wandb.finish()
