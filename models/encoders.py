"""Input encoders: turn a batch into the shared representation ``e`` that every model starts from.

The encoder is chosen by the dataset schema (``schema["input"]``), so every model on a dataset
shares the same encoder and only the multi-task part differs.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from .layers import make_norm

ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(kind: str) -> Callable:
    def wrap(cls: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        ENCODERS[kind] = cls
        return cls
    return wrap


def build_encoder(schema: dict[str, Any], embedding_dim: int, input_norm: str) -> nn.Module:
    kind = schema.get("input", "tabular")
    if kind not in ENCODERS:
        raise ValueError(f"schema input kind {kind!r} has no encoder; known: {sorted(ENCODERS)}")
    return ENCODERS[kind](schema, embedding_dim=embedding_dim, input_norm=input_norm)


@register_encoder("tabular")
class TabularEncoder(nn.Module):
    """Concatenate one embedding per categorical feature (id 0 = unknown) with the dense features.

    All categorical fields share one embedding table with per-field offsets (one lookup per batch).
    ``input_norm`` normalises the concatenation ("batch", "affine" or "none").
    """

    def __init__(self, schema: dict[str, Any], embedding_dim: int, input_norm: str) -> None:
        super().__init__()
        vocab = [int(f["vocab_size"]) for f in schema["categorical"]]
        self.n_dense = len(schema["dense"])
        self.embedding = nn.Embedding(max(sum(vocab), 1), embedding_dim)
        offsets = torch.tensor([0, *vocab[:-1]], dtype=torch.long).cumsum(0) if vocab else torch.zeros(0, dtype=torch.long)
        self.register_buffer("offsets", offsets, persistent=False)
        self.out_dim = len(vocab) * embedding_dim + self.n_dense
        self.norm = make_norm(input_norm, self.out_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        parts = []
        if self.offsets.numel():
            parts.append(self.embedding(batch["categorical"] + self.offsets).flatten(1))
        if self.n_dense:
            parts.append(batch["dense"])
        return self.norm(torch.cat(parts, dim=1))
