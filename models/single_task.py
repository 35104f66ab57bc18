"""Single-Task: one independent tower per task on the shared input (ResFlow without its residual links).

Towers are identical to ResFlow's, so this is ResFlow's natural ablation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import ModelConfig, MultiTaskModel
from .registry import register_model


@dataclass
class SingleTaskConfig(ModelConfig):
    pass


@register_model("single_task", SingleTaskConfig)
class SingleTask(MultiTaskModel):
    def __init__(self, schema: dict, cfg: SingleTaskConfig) -> None:
        super().__init__(schema, cfg)
        self.tower = self.towers(self.encoder.out_dim)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        return [tower(e) for tower in self.tower]
