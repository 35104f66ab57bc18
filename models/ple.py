"""PLE: H. Tang, J. Liu, M. Zhao, X. Gong, *Progressive Layered Extraction (PLE): A Novel Multi-Task
Learning (MTL) Model for Personalized Recommendations*, RecSys 2020.

Each level is a Customized Gate Control (CGC) layer: every task has its own experts and all tasks
share some. Task k's gate mixes task k's experts with the shared ones; below the last level a
shared gate mixes all experts into the shared input of the next level. Level 1 reads the encoder
output everywhere; the last level's task outputs feed the towers. ``n_levels: 1`` is CGC.
Expert counts and widths are this suite's choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .base import ModelConfig, MultiTaskModel
from .layers import Activation, Experts, Gate, Norm, mix
from .registry import register_model


@dataclass
class PLEConfig(ModelConfig):
    #: extraction levels (1 = CGC)
    n_levels: int = 2
    n_shared_experts: int = 2
    #: experts owned by each task
    n_task_experts: int = 2
    #: hidden widths of each expert MLP, at every level
    expert_hidden: list[int] = field(default_factory=lambda: [128])


class CGC(nn.Module):
    """One extraction level. ``forward(inputs)`` takes one input per task plus the shared input
    (last) and returns one output per task, plus the shared output when ``shared_output``."""

    def __init__(self, n_tasks: int, in_dim: int, n_task_experts: int, n_shared_experts: int,
                 hidden: list[int], activation: Activation, norm: Norm, dropout: float, shared_output: bool) -> None:
        super().__init__()
        self.task_experts = nn.ModuleList(
            Experts(n_task_experts, in_dim, hidden, activation, norm, dropout) for _ in range(n_tasks))
        self.shared_experts = Experts(n_shared_experts, in_dim, hidden, activation, norm, dropout)
        self.task_gates = nn.ModuleList(Gate(in_dim, n_task_experts + n_shared_experts) for _ in range(n_tasks))
        self.shared_gate = Gate(in_dim, n_tasks * n_task_experts + n_shared_experts) if shared_output else None
        self.out_dim = self.shared_experts.out_dim

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        *task_inputs, shared_input = inputs
        shared = self.shared_experts(shared_input)
        own = [experts(x) for experts, x in zip(self.task_experts, task_inputs)]
        outputs = [mix(gate(x), torch.cat([mine, shared], dim=1))
                   for gate, x, mine in zip(self.task_gates, task_inputs, own)]
        if self.shared_gate is not None:
            outputs.append(mix(self.shared_gate(shared_input), torch.cat([*own, shared], dim=1)))
        return outputs


@register_model("ple", PLEConfig)
class PLE(MultiTaskModel):
    def __init__(self, schema: dict, cfg: PLEConfig) -> None:
        super().__init__(schema, cfg)
        c = self.cfg
        if min(c.n_levels, c.n_shared_experts, c.n_task_experts) < 1:
            raise ValueError("ple: n_levels, n_shared_experts and n_task_experts must all be >= 1")
        levels, in_dim = [], self.encoder.out_dim
        for level in range(c.n_levels):
            levels.append(CGC(len(self.tasks), in_dim, c.n_task_experts, c.n_shared_experts, c.expert_hidden,
                              c.activation, c.norm, c.dropout, shared_output=level < c.n_levels - 1))
            in_dim = levels[-1].out_dim
        self.levels = nn.ModuleList(levels)
        self.tower = self.towers(in_dim)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        h = [e] * (len(self.tasks) + 1)
        for level in self.levels:
            h = level(h)
        return [tower(x) for tower, x in zip(self.tower, h)]
