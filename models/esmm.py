"""ESMM: X. Ma, L. Zhao, G. Huang, Z. Wang, Z. Hu, X. Zhu, K. Gai, *Entire Space Multi-Task Model: An
Effective Approach for Estimating Post-Click Conversion Rate*, SIGIR 2018.

Task k's tower predicts the conditional probability q_k = p(task k | task k-1) (pCVR for
k = 2); the model reports the entire-space probabilities p_1 = q_1 and p_k = p_{k-1} q_k
(pCTCVR = pCTR x pCVR), so every loss is taken over all impressions and the towers share the
encoder's embeddings. For K > 2 tasks this is the chain generalisation (cumulative products).
Outputs are logit(p_k), computed from log-probabilities so that they stay finite and exact.
Since p_k <= p_{k-1} by construction, the tasks must be a funnel (positives of task k are
positives of task k-1); a dataset whose train positive rates rule that out is refused.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .base import ModelConfig, MultiTaskModel
from .registry import register_model


def chain_logits(conditional: list[torch.Tensor]) -> list[torch.Tensor]:
    """logit(p_k) for p_k = prod_{j <= k} sigmoid(z_j), given the conditional logits z_1..z_K.

    Tracks log p_k and log(1 - p_k) with 1 - p_k = (1 - p_{k-1}) + p_{k-1} (1 - q_k), so no
    probability is ever rounded to 0 or 1.
    """
    first = conditional[0]
    logits, log_p, log_not_p = [first], F.logsigmoid(first), F.logsigmoid(-first)
    for z in conditional[1:]:
        log_not_p = torch.logaddexp(log_not_p, log_p + F.logsigmoid(-z))
        log_p = log_p + F.logsigmoid(z)
        logits.append(log_p - log_not_p)
    return logits


def require_chain(model: MultiTaskModel) -> None:
    if len(model.tasks) < 2:
        raise ValueError(f"{model.registry_name} models a chain of at least 2 ordered tasks; "
                         f"the dataset has {len(model.tasks)} task")


def require_funnel(model: MultiTaskModel, schema: dict) -> None:
    """p_k <= p_{k-1} holds by construction, so every positive of task k must be a positive of
    task k-1. The processed schema records this exactly (``funnel``)."""
    if not schema.get("funnel", False):
        raise ValueError(
            f"{model.registry_name} needs funnel tasks (each positive of a task is a positive of the task "
            f"before it); the tasks {model.tasks} of {schema.get('name', 'this dataset')} are not a funnel")


@dataclass
class ESMMConfig(ModelConfig):
    pass


@register_model("esmm", ESMMConfig)
class ESMM(MultiTaskModel):
    def __init__(self, schema: dict, cfg: ESMMConfig) -> None:
        super().__init__(schema, cfg)
        require_chain(self)
        require_funnel(self, schema)
        self.tower = self.towers(self.encoder.out_dim)

    def conditional_logits(self, e: torch.Tensor) -> list[torch.Tensor]:
        """z_k = logit q_k: task 1's entire-space logit, then p(task k | task k-1) for k > 1."""
        return [tower(e) for tower in self.tower]

    def heads(self, e: torch.Tensor) -> list[torch.Tensor]:
        return chain_logits(self.conditional_logits(e))
