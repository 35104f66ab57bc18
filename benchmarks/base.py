"""The dataset contract: what a benchmark module declares (sources, tasks, options) and provides (prepare).

A dataset is one module in ``benchmarks/`` with one class decorated by ``@register_dataset``; the
registry imports every module of the package, so a new file is picked up with no edit elsewhere.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.config import from_dict
from core.io import file_digest


class RawFormatError(ValueError):
    """A raw file does not have the expected format; the message names file, line and column."""


@dataclass(frozen=True)
class Source:
    """One official file: where it comes from and how to verify it.

    ``mirror_paths`` are paths relative to ``$RESFLOW_DATA_MIRROR`` where an offline copy may lie
    (``<dataset>/<filename>`` is always tried too). A source with no ``urls`` needs a manual
    download (login-walled); ``manual`` then says where to get it.
    """

    filename: str
    urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    mirror_paths: tuple[str, ...] = ()
    manual: str | None = None


@dataclass(frozen=True)
class TaskSpec:
    """A binary task in funnel order with its default loss settings (overridable in config)."""

    name: str
    pos_weight: float = 1.0
    loss_weight: float = 1.0


@dataclass
class DatasetConfig:
    """The config entry of one dataset: ``prepare`` options, per-task loss settings, training overrides."""

    prepare: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


class Benchmark:
    """Base class of dataset modules. Subclasses set ``name``, ``Options``, ``tasks`` and implement
    ``sources`` and ``prepare``."""

    name: ClassVar[str]
    Options: ClassVar[type]
    tasks: ClassVar[tuple[TaskSpec, ...]]
    #: what a person reads when a source is missing
    description: ClassVar[str] = ""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = from_dict(self.Options, options, where=f"dataset_options.{self.name}.prepare")

    def sources(self) -> list[Source]:
        raise NotImplementedError

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        """Read the verified raw files in ``raw_dir`` and write the processed dataset to ``out_dir``."""
        raise NotImplementedError

    def options_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.options)

    def write(self, raw_dir: Path, out_dir: Path, splits: dict[str, dict[str, Any]], schema: dict[str, Any]) -> None:
        """Write the processed dataset, adding what every schema records: name, tasks, options and
        the sha256 of each source file used."""
        from .processed import write_processed  # local import: processed depends on numpy only

        sources = {s.filename: file_digest(Path(raw_dir) / s.filename) for s in self.sources()}
        write_processed(out_dir, splits, {
            "name": self.name, "tasks": [{"name": t.name} for t in self.tasks], "group_key": None,
            "dropped": {}, **schema, "options": self.options_dict(), "sources": sources,
        })


_DATASETS: dict[str, type[Benchmark]] = {}
_NOT_DATASETS = {"base", "fetch", "processed", "tabular"}


def register_dataset(cls: type[Benchmark]) -> type[Benchmark]:
    if cls.name in _DATASETS:
        raise ValueError(f"dataset {cls.name!r} registered twice")
    _DATASETS[cls.name] = cls
    return cls


def _discover() -> None:
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _NOT_DATASETS and not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")


def dataset_names() -> list[str]:
    _discover()
    return sorted(_DATASETS)


def get_dataset(name: str, config: dict[str, Any] | None = None) -> Benchmark:
    """Instantiate dataset ``name`` from its config entry (a ``DatasetConfig`` mapping)."""
    _discover()
    if name not in _DATASETS:
        raise KeyError(f"unknown dataset {name!r}; registered datasets: {sorted(_DATASETS)}")
    entry = from_dict(DatasetConfig, config, where=f"dataset_options.{name}")
    return _DATASETS[name](entry.prepare)


def task_settings(name: str, config: dict[str, Any] | None = None) -> list[TaskSpec]:
    """The dataset's tasks in order, with pos_weight / loss_weight overridden from its config entry."""
    _discover()
    entry = from_dict(DatasetConfig, config, where=f"dataset_options.{name}")
    defaults = {t.name: t for t in _DATASETS[name].tasks}
    unknown = sorted(set(entry.tasks) - set(defaults))
    if unknown:
        raise KeyError(f"dataset_options.{name}.tasks: unknown task(s) {unknown}; tasks are {list(defaults)}")
    return [
        from_dict(TaskSpec, {**dataclasses.asdict(t), **entry.tasks.get(n, {})}, where=f"dataset_options.{name}.tasks.{n}")
        for n, t in defaults.items()
    ]
