"""STEM-Net: L. Su, J. Pan, X. Wang, X. Xiao, S. Quan, X. Chen, J. Jiang, *STEM: Unleashing the Power
of Embeddings for Multi-Task Recommendation*, AAAI 2024 (reference code: github.com/LiangcaiSu/STEM).

Shared and Task-specific EMbeddings: every task has its own input encoder (own embedding tables)
besides the shared one. At each level, task k's experts read task k's representation and the
shared experts read the shared one. Task k's gate, fed with the sum of both representations, mixes
the experts of every task and the shared experts, but the experts of the other tasks pass
through a stop-gradient ("All Forward, Task-specific Backward"): task k's loss trains only its own
and the shared parameters. Below the last level a shared gate mixes all experts (no stop-gradient)
into the next shared input. Defaults follow the reference code (one level, one shared and one
specific expert per task, experts [512, 256, 128]); its MLP gates are single softmax layers here,
and ``embedding_dim`` is the size of each of the K + 1 embedding sets.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .base import ModelConfig, MultiTaskModel
from .encoders import build_encoder
from .layers import Activation, Experts, Gate, Norm, mix
from .registry import register_model


@dataclass
class STEMConfig(ModelConfig):
    n_levels: int = 1
    n_shared_experts: int = 1
    #: experts owned by each task
    n_task_experts: int = 1
    #: hidden widths of each expert MLP, at every level
    expert_hidden: list[int] = field(default_factory=lambda: [512, 256, 128])


class STEMLayer(nn.Module):
    """One level: ``forward(inputs)`` takes one input per task plus the shared input (last) and
    returns one output per task, plus the shared output when ``shared_output``."""

    def __init__(self, n_tasks: int, in_dim: int, n_task_experts: int, n_shared_experts: int,
                 hidden: list[int], activation: Activation, norm: Norm, dropout: float, shared_output: bool) -> None:
        super().__init__()
        n_all = n_tasks * n_task_experts + n_shared_experts
        self.task_experts = nn.ModuleList(
            Experts(n_task_experts, in_dim, hidden, activation, norm, dropout) for _ in range(n_tasks))
        self.shared_experts = Experts(n_shared_experts, in_dim, hidden, activation, norm, dropout)
        self.task_gates = nn.ModuleList(Gate(in_dim, n_all) for _ in range(n_tasks))
        self.shared_gate = Gate(in_dim, n_all) if shared_output else None
        self.out_dim = self.shared_experts.out_dim

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        *task_inputs, shared_input = inputs
        own = [experts(x) for experts, x in zip(self.task_experts, task_inputs)]
        shared = self.shared_experts(shared_input)
        outputs = []
        for k, (gate, x) in enumerate(zip(self.task_gates, task_inputs)):
            experts = [o if j == k else o.detach() for j, o in enumerate(own)]
            outputs.append(mix(gate(x + shared_input), torch.cat([*experts, shared], dim=1)))
        if self.shared_gate is not None:
            outputs.append(mix(self.shared_gate(shared_input), torch.cat([*own, shared], dim=1)))
        return outputs


@register_model("stem", STEMConfig)
class STEM(MultiTaskModel):
    """Overrides ``forward`` (not ``heads``): the task-specific encoders read the batch itself."""

    def __init__(self, schema: dict, cfg: STEMConfig) -> None:
        super().__init__(schema, cfg)
        c = self.cfg
        if min(c.n_levels, c.n_shared_experts, c.n_task_experts) < 1:
            raise ValueError("stem: n_levels, n_shared_experts and n_task_experts must all be >= 1")
        self.task_encoders = nn.ModuleList(
            build_encoder(schema, c.embedding_dim, c.input_norm) for _ in self.tasks)
        levels, in_dim = [], self.encoder.out_dim
        for level in range(c.n_levels):
            levels.append(STEMLayer(len(self.tasks), in_dim, c.n_task_experts, c.n_shared_experts, c.expert_hidden,
                                    c.activation, c.norm, c.dropout, shared_output=level < c.n_levels - 1))
            in_dim = levels[-1].out_dim
        self.levels = nn.ModuleList(levels)
        self.tower = self.towers(in_dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h = [encoder(batch) for encoder in self.task_encoders] + [self.encoder(batch)]
        for level in self.levels:
            h = level(h)
        return {task: tower(x) for task, tower, x in zip(self.tasks, self.tower, h)}
