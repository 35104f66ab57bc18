"""AITM: D. Xi, Z. Chen, P. Yan, Y. Zhang, Y. Zhu, F. Zhuang, Y. Chen, *Modeling the Sequential
Dependence among Audience Multi-step Conversions with Multi-task Learning in Targeted Display
Advertising*, KDD 2021.

Tasks form a chain. Task k's tower gives q_k (the tower's last hidden layer); for k > 1 an
Adaptive Information Transfer (AIT) module combines q_k with p_{k-1} = info_k(z_{k-1}), the
information transferred from the previous task, by self-attention over the two vectors:
z_k = sum_u w_u h1(u) with w_u = softmax_u(<h2(u), h3(u)> / sqrt(d)); z_1 = q_1. The tower's
logit layer reads z_k. The Behavioral Expectation Calibrator adds
``calibrator_weight * sum_k mean(max(p_k - p_{k-1}, 0))`` (``auxiliary_loss``), penalising a
later step that is predicted more likely than the one before it.
Defaults: the paper's towers [128, 64, 32] and calibrator weight 0.6 (its per-layer dropout
[0.1, 0.3, 0.3] is not used; ``dropout`` applies to every layer).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .base import ModelConfig, MultiTaskModel
from .esmm import require_chain
from .layers import DenseBlock
from .registry import register_model


@dataclass
class AITMConfig(ModelConfig):
    tower_hidden: list[int] = field(default_factory=lambda: [128, 64, 32])
    #: weight of the behavioural expectation calibrator
    calibrator_weight: float = 0.6


class AIT(nn.Module):
    """Self-attention over [transferred info, own representation]: [B, 2, d] -> [B, d]."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.value, self.query, self.key = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        scores = (self.query(inputs) * self.key(inputs)).sum(-1) / math.sqrt(inputs.shape[-1])
        return (torch.softmax(scores, dim=1).unsqueeze(-1) * self.value(inputs)).sum(1)


def calibrator_penalty(probs: list[torch.Tensor]) -> torch.Tensor:
    """sum_k mean(max(p_k - p_{k-1}, 0)) over consecutive tasks."""
    return sum(torch.relu(later - earlier).mean() for earlier, later in zip(probs[:-1], probs[1:]))


@register_model("aitm", AITMConfig)
class AITM(MultiTaskModel):
    def __init__(self, schema: dict, cfg: AITMConfig) -> None:
        super().__init__(schema, cfg)
        require_chain(self)
        c = self.cfg
        self.tower = self.towers(self.encoder.out_dim)
        dim = self.tower[0].mlp.out_dim
        self.info = nn.ModuleList(DenseBlock(dim, dim, c.activation, "none", c.dropout) for _ in self.tasks[1:])
        self.ait = nn.ModuleList(AIT(dim) for _ in self.tasks[1:])

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        z = self.tower[0].mlp(e)
        logits = [self.tower[0].head(z).squeeze(-1)]
        for tower, info, ait in zip(self.tower[1:], self.info, self.ait):
            z = ait(torch.stack([info(z), tower.mlp(e)], dim=1))
            logits.append(tower.head(z).squeeze(-1))
        return logits

    def auxiliary_loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        probs = [torch.sigmoid(outputs[t].float()) for t in self.tasks]
        return self.cfg.calibrator_weight * calibrator_penalty(probs)
