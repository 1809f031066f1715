"""Hydra entry point: `python run.py -m smoothing=ls,gls task=ner`."""

import hydra
from omegaconf import DictConfig

import labelsmooth  # noqa: F401  (registers the config resolvers)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from labelsmooth.cli.train import train

    return train(cfg)


if __name__ == "__main__":
    main()
