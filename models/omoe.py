"""OMoE (one-gate Mixture-of-Experts), the baseline of J. Ma et al., *Modeling Task Relationships in
Multi-task Learning with Multi-gate Mixture-of-Experts*, KDD 2018.

MMoE with a single softmax gate shared by all tasks: every tower reads the same mixture of experts.
"""
from __future__ import annotations

from dataclasses import dataclass

from .mmoe import MMoE, MMoEConfig
from .registry import register_model


@dataclass
class OMoEConfig(MMoEConfig):
    pass


@register_model("omoe", OMoEConfig)
class OMoE(MMoE):
    one_gate = True
