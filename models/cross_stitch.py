"""Cross-Stitch: I. Misra, A. Shrivastava, A. Gupta, M. Hebert, *Cross-stitch Networks for Multi-task
Learning*, CVPR 2016, applied between MLP towers.

Each task has its own tower (as in Single-Task). After every hidden layer l, a cross-stitch unit
replaces each task's activation by a learned linear combination of all tasks' activations at that
layer: h_k^l <- sum_j alpha^l_{kj} h_j^l, with one K x K matrix alpha^l per layer. alpha starts
at ``init_self`` on the diagonal and shares the rest equally off it (the paper's
(alpha_S, alpha_D) = (0.9, 0.1) for two tasks); ``init_self: 1.0`` starts as Single-Task.
The paper's larger learning rate for alpha is not used: every parameter shares one optimiser.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import ModelConfig, MultiTaskModel
from .registry import register_model


@dataclass
class CrossStitchConfig(ModelConfig):
    #: initial weight of a task's own activation (the rest is split evenly over the other tasks)
    init_self: float = 0.9


@register_model("cross_stitch", CrossStitchConfig)
class CrossStitch(MultiTaskModel):
    def __init__(self, schema: dict, cfg: CrossStitchConfig) -> None:
        super().__init__(schema, cfg)
        self.tower = self.towers(self.encoder.out_dim)
        k = len(self.tasks)
        off = (1.0 - cfg.init_self) / (k - 1) if k > 1 else 0.0
        alpha = torch.full((k, k), off) + torch.eye(k) * (cfg.init_self - off)
        self.alpha = nn.ParameterList(nn.Parameter(alpha.clone()) for _ in self.cfg.tower_hidden)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        h = [e] * len(self.tower)
        for depth, alpha in enumerate(self.alpha):
            stacked = torch.stack([tower.mlp.blocks[depth](x) for tower, x in zip(self.tower, h)], dim=1)
            h = list(torch.einsum("kj,bjd->bkd", alpha, stacked).unbind(1))
        return [tower.head(x).squeeze(-1) for tower, x in zip(self.tower, h)]
