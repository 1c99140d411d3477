"""Shared fixtures for camlib's unit tests.

Everything here is tiny and synthetic: no network, no real data, CPU only. Tests that need
the real MNIST/Fashion-MNIST files live in test_data.py and skip when the files are absent.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from camlib.models import GAPNet


@pytest.fixture
def tiny_gapnet() -> GAPNet:
    """A seeded GAPNet small enough to run in milliseconds: 2 stages (4, 8 channels), stride 2,
    3 classes, in eval mode so BatchNorm uses its running statistics."""
    torch.manual_seed(0)
    return GAPNet(in_channels=1, num_classes=3, widths=(4, 8), downsample=1).eval()


def separable_images(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` black 1x8x8 images with one white pixel: in columns 0-2 for class 0 (even
    indices), in columns 5-7 for class 1 (odd indices); the row is random."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    rows = torch.randint(0, 8, (n,), generator=generator)
    left = torch.randint(0, 3, (n,), generator=generator)
    right = torch.randint(5, 8, (n,), generator=generator)
    cols = torch.where(labels == 0, left, right)
    images = torch.zeros(n, 1, 8, 8)
    images[torch.arange(n), 0, rows, cols] = 1.0
    return images, labels


@pytest.fixture
def separable_data() -> TensorDataset:
    return TensorDataset(*separable_images())


@pytest.fixture
def separable_loader(separable_data: TensorDataset) -> DataLoader:
    """Shuffled batches of 8 from ``separable_data``, with a seeded shuffle."""
    return DataLoader(separable_data, batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def silent_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts connections and never answers, like a stalled
    proxy: the kernel completes the handshakes from the listen backlog, and nobody ever reads or writes.
    Code without a timeout hangs on it; camlib's downloads must fail within their timeout."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()
