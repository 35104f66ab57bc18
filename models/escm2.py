"""ESCM2: H. Wang, T.-W. Chang, T. Liu, J. Huang, Z. Chen, C. Yu, R. Li, W. Chu, *ESCM^2: Entire Space
Counterfactual Multi-Task Model for Post-Click Conversion Rate Estimation*, SIGIR 2022.

ESMM's structure (``models.esmm``) plus a counterfactual risk on the CVR task, added by
``auxiliary_loss`` with weight ``counterfactual_weight``; the CTR and CTCVR losses are the main
task losses (their weights come from the dataset config). With o = click, p = pCTR (the click
propensity, gradient stopped) and e = BCE(pCVR, purchase) on every impression:

- ``escm2_ips``: R = mean(o e / p)
- ``escm2_dr``:  R = mean(ê + o (e - ê) / p) + mean(o (e - ê)^2 / p), where an imputation tower
  predicts the error ê >= 0 (softplus) and is trained by the second term.

o / p is clipped at ``max_ips_weight`` (the reference code's 15). For a chain of K > 2 tasks the
risk is summed over stages k >= 2, with o = label of task k-1 and p = the model's p(task k-1).
The conditional logits and imputed errors of the last forward pass are kept in
``self.stage_outputs`` for ``auxiliary_loss``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .base import ModelConfig
from .esmm import ESMM, chain_logits
from .registry import register_model


@dataclass
class ESCM2Config(ModelConfig):
    #: weight of the counterfactual CVR risk (reference code: counterfactual_w = 0.5)
    counterfactual_weight: float = 0.5
    #: clip of the inverse-propensity weight o / p (reference code: 15)
    max_ips_weight: float = 15.0


def ips_weight(observed: torch.Tensor, propensity: torch.Tensor, max_weight: float) -> torch.Tensor:
    """o / p, clipped at ``max_weight``, as a constant (no gradient reaches the propensity)."""
    return (observed / propensity).clamp(max=max_weight).detach()


class ESCM2(ESMM):
    estimator = "ips"

    def __init__(self, schema: dict, cfg: ESCM2Config) -> None:
        super().__init__(schema, cfg)
        n_stages = len(self.tasks) - 1
        if self.estimator == "dr":
            self.imputation = self.towers(self.encoder.out_dim, n_stages)
        self.stage_outputs: dict[str, list[torch.Tensor]] = {}

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        conditional = self.conditional_logits(e)
        self.stage_outputs = {"conditional": conditional[1:]}
        if self.estimator == "dr":
            self.stage_outputs["imputed"] = [F.softplus(tower(e)) for tower in self.imputation]
        return chain_logits(conditional)

    def auxiliary_loss(self, outputs: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        risk = 0.0
        for k, z in enumerate(self.stage_outputs["conditional"], start=1):
            propensity = torch.sigmoid(outputs[self.tasks[k - 1]].float())
            weight = ips_weight(labels[:, k - 1], propensity, self.cfg.max_ips_weight)
            error = F.binary_cross_entropy_with_logits(z.float(), labels[:, k], reduction="none")
            if self.estimator == "ips":
                risk = risk + (weight * error).mean()
            else:
                imputed = self.stage_outputs["imputed"][k - 1].float()
                residual = error - imputed
                risk = risk + (imputed + weight * residual).mean() + (weight * residual.square()).mean()
        return self.cfg.counterfactual_weight * risk


@register_model("escm2_ips", ESCM2Config)
class ESCM2IPS(ESCM2):
    estimator = "ips"


@register_model("escm2_dr", ESCM2Config)
class ESCM2DR(ESCM2):
    estimator = "dr"
