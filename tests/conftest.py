"""Shared fixtures: the real MNIST root, a tiny learnable data set, a tiny ImageWang (built by tests/helpers.py), and
a guard that fails a test when any model trains."""

from pathlib import Path

import pytest

from bannet import born_again
from bannet.data import StudyData
from helpers import real_data_root, tiny_mnist_like, write_tiny_imagewang


@pytest.fixture
def mnist_root() -> Path:
    """Root holding the real MNIST files."""
    return real_data_root("mnist")


@pytest.fixture
def tiny_data() -> StudyData:
    """A tiny synthetic MNIST-shaped study data set."""
    return tiny_mnist_like()


@pytest.fixture
def tiny_imagewang(tmp_path) -> Path:
    """A data root holding a tiny random ImageWang folder (24 train, 8 val, 12 unsup JPEGs of 16–24 px)."""
    return write_tiny_imagewang(tmp_path / "data")


@pytest.fixture
def no_training(monkeypatch):
    """Make any training attempt fail the test loudly."""
    def trained(*args, **kwargs):
        raise AssertionError("a model was trained")
    monkeypatch.setattr(born_again, "train_model", trained)
