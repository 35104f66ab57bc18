"""Shared-Bottom: R. Caruana, *Multitask Learning*, Machine Learning 28, 1997.

A shared MLP ("bottom") feeds one tower per task.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .base import ModelConfig, MultiTaskModel
from .layers import MLP
from .registry import register_model


@dataclass
class SharedBottomConfig(ModelConfig):
    bottom_hidden: list[int] = field(default_factory=lambda: [256])


@register_model("shared_bottom", SharedBottomConfig)
class SharedBottom(MultiTaskModel):
    def __init__(self, schema: dict, cfg: SharedBottomConfig) -> None:
        super().__init__(schema, cfg)
        self.bottom = MLP(self.encoder.out_dim, cfg.bottom_hidden, cfg.activation, cfg.norm, cfg.dropout)
        self.tower = self.towers(self.bottom.out_dim)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        shared = self.bottom(e)
        return [tower(shared) for tower in self.tower]
