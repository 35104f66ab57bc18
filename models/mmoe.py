"""MMoE: J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong, E. H. Chi, *Modeling Task Relationships in Multi-task
Learning with Multi-gate Mixture-of-Experts*, KDD 2018.

``n_experts`` MLP experts read the shared input; task k's softmax gate (on the same input) mixes
them, and the mixture feeds task k's tower. OMoE (``models.omoe``) is the one-gate ablation from
the same paper. Widths are this suite's choice (the paper's Census-Income setting is not used).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .base import ModelConfig, MultiTaskModel
from .layers import Experts, Gate, mix
from .registry import register_model


@dataclass
class MMoEConfig(ModelConfig):
    n_experts: int = 8
    #: hidden widths of each expert MLP (its last width is the tower input)
    expert_hidden: list[int] = field(default_factory=lambda: [128])


@register_model("mmoe", MMoEConfig)
class MMoE(MultiTaskModel):
    #: one gate shared by all tasks (OMoE) instead of one per task
    one_gate = False

    def __init__(self, schema: dict, cfg: MMoEConfig) -> None:
        super().__init__(schema, cfg)
        c = self.cfg
        if c.n_experts < 1:
            raise ValueError(f"{self.registry_name}: n_experts must be >= 1, got {c.n_experts}")
        self.experts = Experts(c.n_experts, self.encoder.out_dim, c.expert_hidden, c.activation, c.norm, c.dropout)
        n_gates = 1 if self.one_gate else len(self.tasks)
        self.gates = nn.ModuleList(Gate(self.encoder.out_dim, c.n_experts) for _ in range(n_gates))
        self.tower = self.towers(self.experts.out_dim)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        experts = self.experts(e)
        mixed = [mix(gate(e), experts) for gate in self.gates]
        if self.one_gate:
            mixed = mixed * len(self.tower)
        return [tower(x) for tower, x in zip(self.tower, mixed)]
