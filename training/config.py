"""Training hyper-parameters (``training:`` in config, overridable per dataset)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class TrainingConfig:
    epochs: int = 20
    batch_size: int = 1024
    eval_batch_size: int = 16384
    #: Adam learning rate (ResFlow reference: 4e-4 e-commerce, 1e-3 other modalities)
    lr: float = 1e-3
    weight_decay: float = 0.0
    #: stop after this many epochs without improvement of the validation score
    patience: int = 3
    #: model selection and early stopping use the mean over tasks of this validation metric
    select_metric: Literal["auc", "logloss"] = "auc"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: deterministic kernels (CPU results are bit-identical for a seed; on CUDA this also sets
    #: torch.use_deterministic_algorithms and CUBLAS_WORKSPACE_CONFIG)
    deterministic: bool = True
    #: clip the global gradient norm to this value; null = never clip
    grad_clip: float | None = None
    #: bf16 autocast on CUDA (always off on CPU)
    amp: bool = False
    #: torch intra-op threads on CPU; null = torch's default
    threads: int | None = None
