"""Multi-task models: shared layers, a registry, and one module per model."""
from .registry import build_model, incompatibility, model_config, model_names, resolved_hparams

__all__ = ["build_model", "incompatibility", "model_config", "model_names", "resolved_hparams"]
