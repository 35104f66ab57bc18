"""Shared building blocks, written once: dense blocks, MLPs, task towers, experts, gates, init.

Every model composes these; a model module holds only what makes that model different.
"""
from __future__ import annotations

from typing import Literal, Sequence

import torch
from torch import nn

Activation = Literal["prelu", "relu"]
#: "batch": ordinary train-mode BatchNorm; "affine": BatchNorm whose statistics stay at mean 0 /
#: var 1 (what the ResFlow reference's Keras BatchNorm most likely did: a learned affine map);
#: "none": no normalisation.
Norm = Literal["batch", "affine", "none"]


class FrozenStatsBatchNorm(nn.Module):
    """BatchNorm1d that never updates its statistics (mean 0, variance 1): ``gamma * x / sqrt(1 + eps) + beta``."""

    def __init__(self, width: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.scale = float(1.0 / (1.0 + eps) ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.weight * self.scale) + self.bias


def make_norm(kind: Norm, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "affine":
        return FrozenStatsBatchNorm(width)
    return nn.Identity()


def make_activation(kind: Activation, width: int) -> nn.Module:
    # PReLU with one slope per unit, starting at 0 (as in the ResFlow reference code).
    return nn.PReLU(num_parameters=width, init=0.0) if kind == "prelu" else nn.ReLU()


class DenseBlock(nn.Sequential):
    """Linear -> activation -> norm -> dropout."""

    def __init__(self, in_dim: int, out_dim: int, activation: Activation, norm: Norm, dropout: float) -> None:
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim), make_activation(activation, out_dim), make_norm(norm, out_dim)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.out_dim = out_dim


class MLP(nn.Module):
    """A stack of DenseBlocks; ``blocks`` is exposed so models can act between layers."""

    def __init__(self, in_dim: int, hidden: Sequence[int], activation: Activation = "prelu",
                 norm: Norm = "batch", dropout: float = 0.0) -> None:
        super().__init__()
        dims = [in_dim, *hidden]
        self.blocks = nn.ModuleList(
            DenseBlock(a, b, activation, norm, dropout) for a, b in zip(dims[:-1], dims[1:])
        )
        self.out_dim = dims[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


class Tower(nn.Module):
    """A task tower: an MLP followed by a one-unit logit layer.

    ``layers`` lists the hidden blocks and then the logit layer, so a model can visit them layer
    by layer (ResFlow adds residuals between corresponding layers of different towers).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], activation: Activation = "prelu",
                 norm: Norm = "batch", dropout: float = 0.0) -> None:
        super().__init__()
        self.mlp = MLP(in_dim, hidden, activation, norm, dropout)
        self.head = nn.Linear(self.mlp.out_dim, 1)

    @property
    def layers(self) -> list[nn.Module]:
        return [*self.mlp.blocks, self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mlp(x)).squeeze(-1)


class Experts(nn.Module):
    """``n`` parallel MLP experts; output shape [batch, n, out_dim]."""

    def __init__(self, n: int, in_dim: int, hidden: Sequence[int], activation: Activation = "prelu",
                 norm: Norm = "batch", dropout: float = 0.0) -> None:
        super().__init__()
        self.experts = nn.ModuleList(MLP(in_dim, hidden, activation, norm, dropout) for _ in range(n))
        self.out_dim = self.experts[0].out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([e(x) for e in self.experts], dim=1)


class Gate(nn.Module):
    """Softmax gate over experts: returns weights [batch, n_experts] that sum to 1."""

    def __init__(self, in_dim: int, n_experts: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, n_experts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=-1)


def mix(gate_weights: torch.Tensor, expert_outputs: torch.Tensor) -> torch.Tensor:
    """Gate-weighted sum of expert outputs: [B, E] x [B, E, D] -> [B, D]."""
    return torch.einsum("be,bed->bd", gate_weights, expert_outputs)


def init_weights(module: nn.Module) -> None:
    """Reference-code initialisation: Glorot-uniform dense weights, zero biases, embeddings U(-0.05, 0.05)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.uniform_(m.weight, -0.05, 0.05)
