"""ResFlow: C. Fu et al., *Residual Multi-Task Learner for Applied Ranking*, KDD 2024 (arXiv 2411.09705).

Tasks are ordered along the funnel; each has its own tower. Layer l of task k also receives the
(post-residual) output of layer l of task k-1:

    h_k^l = f_k^l(h_k^{l-1}) + h_{k-1}^l        (k > 1; logits included)

``variant="full"`` (e-commerce reference code) adds residuals at every hidden layer and the logit;
``variant="logits_only"`` (other-modality reference code) adds them at the logit only, so
logit_k = sum of the tower outputs 1..k. No stop-gradient: task k's loss trains towers 1..k-1.
The reference pairs "full" with BatchNorm and "logits_only" with no normalisation (``norm: none``);
the norm is a separate knob (see ``models.layers.Norm``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from .base import ModelConfig, MultiTaskModel
from .registry import register_model


@dataclass
class ResFlowConfig(ModelConfig):
    variant: Literal["full", "logits_only"] = "full"


@register_model("resflow", ResFlowConfig)
class ResFlow(MultiTaskModel):
    def __init__(self, schema: dict, cfg: ResFlowConfig) -> None:
        super().__init__(schema, cfg)
        if len(self.tasks) < 2:
            raise ValueError("resflow needs at least 2 ordered tasks")
        self.tower = self.towers(self.encoder.out_dim)

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        logits, previous = [], None
        for tower in self.tower:
            h, outputs = e, []
            layers = tower.layers
            for depth, layer in enumerate(layers):
                h = layer(h)
                residual_here = self.cfg.variant == "full" or depth == len(layers) - 1
                if previous is not None and residual_here:
                    h = h + previous[depth]
                outputs.append(h)
            previous = outputs
            logits.append(h.squeeze(-1))
        return logits
