"""The batch path: whole-tensor slicing by index arrays (no per-row ``__getitem__``, no collate).

A split is loaded once from the memory-mapped processed arrays into tensors; an epoch is a seeded
permutation that depends only on (seed, epoch), so a resumed run sees exactly the same batches.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

FEATURES = ("categorical", "dense", "image")


class SplitTensors:
    """One split's features and labels as tensors, sliced into batches by index arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], device: torch.device) -> None:
        on_cuda = device.type == "cuda"

        def to_tensor(a: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(np.array(a))  # materialise the memory-mapped array once
            return t.pin_memory() if on_cuda else t

        self.device = device
        self.features = {k: to_tensor(arrays[k]) for k in FEATURES if k in arrays}
        self.labels = to_tensor(arrays["labels"])
        self.group = np.asarray(arrays["group"]) if "group" in arrays else None
        self.n = len(self.labels)

    def take(self, idx: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        move = lambda t: t.index_select(0, idx).to(self.device, non_blocking=True)  # noqa: E731
        return {k: move(v) for k, v in self.features.items()}, move(self.labels)

    def epoch_order(self, seed: int, epoch: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=generator)

    def train_batches(self, batch_size: int, seed: int, epoch: int) -> Iterator[tuple[dict, torch.Tensor]]:
        order = self.epoch_order(seed, epoch)
        for start in range(0, self.n, batch_size):
            yield self.take(order[start:start + batch_size])

    def eval_batches(self, batch_size: int) -> Iterator[tuple[int, dict, torch.Tensor]]:
        for start in range(0, self.n, batch_size):
            idx = torch.arange(start, min(start + batch_size, self.n))
            yield (start, *self.take(idx))
