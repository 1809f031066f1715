"""Image data: scikit-learn's bundled digits (the offline default), MNIST and GTSRB via torchvision.

Like the text sources, each has `prepare()` (download; once per node, from Lightning's `prepare_data`) and
`load()` (read only: it never downloads, so DDP ranks cannot race on a half-downloaded archive).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

Splits = dict[str, tuple[Tensor, Tensor]]


def _check_fraction(key: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"data.{key}={value}: expected a value in [0, 1)")


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> dict[str, np.ndarray]:
    """A fixed random partition of range(n) into train/val/test (same seed → same split)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val, n_test = round(n * val_fraction), round(n * test_fraction)
    return {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}


def check_shapes(source, splits: Splits) -> Splits:
    """Fail early when the configured `in_features` / `num_classes` do not match the loaded images."""
    x, y = splits["train"]
    if x.shape[1] != source.in_features:
        raise ValueError(f"data.in_features={source.in_features}: the images have {x.shape[1]} features")
    if int(y.max()) >= source.num_classes:
        raise ValueError(f"data.num_classes={source.num_classes}: found label {int(y.max())}")
    return splits


class Digits:
    """scikit-learn's 1,797 8×8 digits, pixel values scaled to [0, 1], a fixed train/val/test split."""

    class_names = [str(d) for d in range(10)]

    def __init__(
        self, in_features: int, num_classes: int, val_fraction: float, test_fraction: float, split_seed: int
    ) -> None:
        _check_fraction("val_fraction", val_fraction)
        _check_fraction("test_fraction", test_fraction)
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        self.in_features = in_features
        self.num_classes = num_classes

    def prepare(self) -> None:
        """Nothing to download: the digits ship with scikit-learn."""

    def load(self) -> Splits:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        x = torch.as_tensor(x / 16.0, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.long)
        parts = split_indices(len(y), self.val_fraction, self.test_fraction, self.split_seed)
        return check_shapes(self, {split: (x[idx], y[idx]) for split, idx in parts.items()})


class TorchvisionImages:
    """MNIST or GTSRB through torchvision (downloaded once when online), flattened grey images in [0, 1].

    GTSRB images vary in size, so all are resized to `image_size`; validation is held out of the
    official training set (`val_fraction`), the official test set is the test split.
    """

    def __init__(
        self,
        name: str,
        dir: str,
        image_size: int,
        in_features: int,
        num_classes: int,
        val_fraction: float,
        split_seed: int,
    ) -> None:
        if name not in ("mnist", "gtsrb"):
            raise ValueError(f"data.name={name!r}: expected 'mnist' or 'gtsrb'")
        _check_fraction("val_fraction", val_fraction)
        self.name = name
        self.dir = dir
        self.image_size = image_size
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.in_features = in_features
        self.num_classes = num_classes
        self.class_names = [str(c) for c in range(num_classes)]

    def _dataset(self, train: bool, download: bool):
        from torchvision import datasets, transforms  # optional dependency: pip install 'labelsmooth[hub]'

        tf = transforms.Compose(
            [
                transforms.Grayscale(),
                transforms.Resize((self.image_size, self.image_size)),
                transforms.ToTensor(),
            ]
        )
        root = Path(self.dir)
        if self.name == "mnist":
            return datasets.MNIST(root, train=train, transform=tf, download=download)
        return datasets.GTSRB(root, split="train" if train else "test", transform=tf, download=download)

    def prepare(self) -> None:
        """Download both official splits into `dir` (a no-op when they are there)."""
        for train in (True, False):
            self._dataset(train, download=True)

    def _tensors(self, train: bool) -> tuple[Tensor, Tensor]:
        try:
            data = self._dataset(train, download=False)
        except RuntimeError as err:  # torchvision's "Dataset not found", raised only without download
            raise FileNotFoundError(
                f"data.dir={self.dir}: no {self.name} data there ({err}); prepare() downloads it"
            ) from err
        loader = torch.utils.data.DataLoader(data, batch_size=1024)
        xs, ys = zip(*((x.flatten(1), y) for x, y in loader), strict=True)
        return torch.cat(xs), torch.cat(ys).long()

    def load(self) -> Splits:
        x, y = self._tensors(train=True)
        parts = split_indices(len(y), self.val_fraction, 0.0, self.split_seed)
        splits = {split: (x[idx], y[idx]) for split, idx in parts.items() if split != "test"}
        return check_shapes(self, splits | {"test": self._tensors(train=False)})
