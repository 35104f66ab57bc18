"""Plug-in discovery shared by the model and dataset registries."""
from __future__ import annotations

import importlib
import pkgutil


def import_all(package: str, skip: set[str]) -> None:
    """Import every module of ``package`` except ``skip`` and private ones, so that their
    registration decorators run: a new module needs no edit elsewhere."""
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if info.name not in skip and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
