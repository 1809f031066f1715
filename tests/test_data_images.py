"""Image sources: prepare() downloads, load() only reads (on a stand-in torchvision: no network)."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from labelsmooth.data.images import Digits, TorchvisionImages


class _FakeMNIST:
    """Records how it was built; 'present' once a download=True instance has been made."""

    calls: list[tuple[bool, bool]] = []
    present = False

    def __init__(self, root, train, transform, download):
        type(self).calls.append((train, download))
        if download:
            type(self).present = True
        if not type(self).present:
            raise RuntimeError("Dataset not found. You can use download=True to download it")
        self.n = 30 if train else 10

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.full((1, 28, 28), i / self.n), i % 10


@pytest.fixture
def fake_torchvision(monkeypatch):
    _FakeMNIST.calls, _FakeMNIST.present = [], False
    identity = lambda *args, **kwargs: lambda x: x  # noqa: E731 - transforms are not under test
    transforms = types.SimpleNamespace(
        Compose=identity, Grayscale=identity, Resize=identity, ToTensor=identity
    )
    module = types.ModuleType("torchvision")
    module.datasets = types.SimpleNamespace(MNIST=_FakeMNIST)
    module.transforms = transforms
    monkeypatch.setitem(sys.modules, "torchvision", module)
    return _FakeMNIST


def _mnist(tmp_path) -> TorchvisionImages:
    return TorchvisionImages("mnist", str(tmp_path), 28, 784, 10, val_fraction=0.2, split_seed=0)


def test_prepare_downloads_both_splits_and_load_never_downloads(tmp_path, fake_torchvision):
    source = _mnist(tmp_path)
    source.prepare()
    assert fake_torchvision.calls == [(True, True), (False, True)]
    fake_torchvision.calls.clear()
    splits = source.load()
    assert fake_torchvision.calls == [(True, False), (False, False)]
    assert {k: tuple(x.shape) for k, (x, _) in splits.items()} == {
        "val": (6, 784),
        "train": (24, 784),
        "test": (10, 784),
    }


def test_load_before_prepare_is_one_clear_error(tmp_path, fake_torchvision):
    with pytest.raises(FileNotFoundError) as err:
        _mnist(tmp_path).load()
    assert str(err.value).startswith(f"data.dir={tmp_path}: no mnist data there (Dataset not found.")
    assert str(err.value).endswith("prepare() downloads it") and fake_torchvision.calls == [(True, False)]


def test_digits_need_no_preparation():
    source = Digits(64, 10, 0.2, 0.2, split_seed=0)
    source.prepare()
    assert sum(len(y) for _, y in source.load().values()) == 1797
