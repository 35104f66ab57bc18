"""What every model shares: the config fields of the encoder and towers, and the encoder itself."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .encoders import build_encoder
from .layers import Activation, Norm, Tower


@dataclass
class ModelConfig:
    """Hyper-parameters common to all models (defaults: the ResFlow e-commerce reference code)."""

    embedding_dim: int = 32
    #: normalisation of the concatenated input ("batch", "affine" or "none")
    input_norm: Norm = "batch"
    #: hidden widths of each task tower (the logit layer is added on top)
    tower_hidden: list[int] = field(default_factory=lambda: [128, 64])
    activation: Activation = "prelu"
    norm: Norm = "batch"
    dropout: float = 0.0


class MultiTaskModel(nn.Module):
    """Base class: owns the encoder and the task list; ``forward(batch) -> {task: logits}``.

    Subclasses implement ``heads(e) -> list of logits`` (one [batch] tensor per task, in order).
    Methods that add a loss term of their own override ``auxiliary_loss``.
    """

    registry_name = "base"

    def __init__(self, schema: dict[str, Any], cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tasks = [t["name"] for t in schema["tasks"]]
        self.encoder = build_encoder(schema, cfg.embedding_dim, cfg.input_norm)

    def towers(self, in_dim: int, n: int | None = None) -> nn.ModuleList:
        """``n`` (default: one per task) identical towers, as the shared config describes them."""
        c = self.cfg
        return nn.ModuleList(
            Tower(in_dim, c.tower_hidden, c.activation, c.norm, c.dropout) for _ in range(n or len(self.tasks))
        )

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return dict(zip(self.tasks, self.heads(self.encoder(batch))))

    def auxiliary_loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor | None:
        """Extra loss terms that are part of the method (none by default)."""
        return None
