"""The dataset contract: what a benchmark module declares (sources, tasks, options) and provides (prepare).

A dataset is one module in ``benchmarks/`` with one class decorated by ``@register_dataset``; the
registry imports every module of the package, so a new file is picked up with no edit elsewhere.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from core.config import from_dict
from core.registry import import_all
from core.io import file_digest


class RawFormatError(ValueError):
    """A raw file does not have the expected format; the message names file, line and column."""


@dataclass(frozen=True)
class Source:
    """One official file: where it comes from and how to verify it.

    ``mirror_paths`` are paths relative to ``$RESFLOW_DATA_MIRROR`` where an offline copy may lie
    (``<dataset>/<filename>`` is always tried too). A source with no ``urls`` needs a manual
    download (login-walled); ``manual`` then says where to get it.

    For an archive, ``members`` lists the files ``prepare`` reads from it (``filename`` = path inside
    the archive, with the member's own size/checksums where known). A mirror or a raw folder may
    then hold those members already extracted instead of the archive (``benchmarks.fetch``).
    """

    filename: str
    urls: tuple[str, ...] = ()
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    mirror_paths: tuple[str, ...] = ()
    manual: str | None = None
    members: tuple[Source, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    """A binary task in funnel order with its default settings (overridable in config).

    ``gain`` is the task's value v_k in the ranking gain sum_k v_k * y_k (Weighted Recall@K).
    """

    name: str
    pos_weight: float = 1.0
    loss_weight: float = 1.0
    gain: float = 1.0


@dataclass
class TaskOrderOptions:
    """Prepare options of a dataset whose tasks have no natural order (multi-label vision).

    ResFlow's residual flow runs along the task order, so the order is part of the protocol:
    ``given`` keeps the declared order; ``frequency`` sorts by descending positive rate in train
    (the commonest label first, like a funnel; ties keep the declared order); ``random`` is a
    permutation seeded by ``task_order_seed``. ``Benchmark.write`` applies it to the label
    columns and records the order in schema.json (``tasks``, ``task_order``); each run's
    meta.json lists its tasks in that order.
    """

    task_order: Literal["given", "frequency", "random"] = "given"
    task_order_seed: int = 0


def task_permutation(train_labels: np.ndarray, order: str, seed: int) -> np.ndarray:
    """Column order of the tasks under ``order`` (see ``TaskOrderOptions``)."""
    k = train_labels.shape[1]
    if order == "given":
        return np.arange(k)
    if order == "frequency":
        return np.argsort(-np.asarray(train_labels, dtype=np.float64).mean(axis=0), kind="stable")
    if order == "random":
        return np.random.default_rng(seed).permutation(k)
    raise ValueError(f"unknown task order {order!r}")


def align_tasks(tasks: list[TaskSpec], schema: dict[str, Any], where: str) -> list[TaskSpec]:
    """The configured task settings in the schema's task order (prepare may reorder tasks)."""
    by_name = {t.name: t for t in tasks}
    names = [t["name"] for t in schema["tasks"]]
    if sorted(names) != sorted(by_name):
        raise ValueError(f"{where}: schema tasks {names} differ from configured tasks {list(by_name)}")
    return [by_name[n] for n in names]


@dataclass
class DatasetConfig:
    """The config entry of one dataset: ``prepare`` options, per-task loss settings, training
    overrides, and ``model`` hyper-parameters applied to every model on this dataset (e.g. the
    shared encoder's embedding size)."""

    prepare: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)


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

        names = [t.name for t in self.tasks]
        if isinstance(self.options, TaskOrderOptions):
            perm = task_permutation(splits["train"]["labels"], self.options.task_order, self.options.task_order_seed)
            splits = {s: {**arrays, "labels": arrays["labels"][:, perm]} for s, arrays in splits.items()}
            names = [names[i] for i in perm]
            schema = {**schema, "task_order": self.options.task_order}
        sources = {s.filename: source_digest(Path(raw_dir), s) for s in self.sources()}
        write_processed(out_dir, splits, {
            "name": self.name, "tasks": [{"name": n} for n in names], "group_key": None,
            "dropped": {}, **schema, "options": self.options_dict(), "sources": sources,
        })


def source_digest(raw_dir: Path, source: Source) -> str | dict[str, str]:
    """sha256 of a source file, or of each member when only its extracted members are present."""
    path = raw_dir / source.filename
    if path.exists() or not source.members:
        return file_digest(path)
    return {m.filename: file_digest(raw_dir / m.filename) for m in source.members}


_DATASETS: dict[str, type[Benchmark]] = {}
_NOT_DATASETS = {"base", "fetch", "processed", "tabular"}


def register_dataset(cls: type[Benchmark]) -> type[Benchmark]:
    if cls.name in _DATASETS:
        raise ValueError(f"dataset {cls.name!r} registered twice")
    _DATASETS[cls.name] = cls
    return cls


def _discover() -> None:
    import_all(__package__, _NOT_DATASETS)


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
    entry = from_dict(DatasetConfig, config, where=f"dataset_options.{name}")
    defaults = {t.name: t for t in get_dataset(name, config).tasks}  # tasks may depend on options
    unknown = sorted(set(entry.tasks) - set(defaults))
    if unknown:
        raise KeyError(f"dataset_options.{name}.tasks: unknown task(s) {unknown}; tasks are {list(defaults)}")
    return [
        from_dict(TaskSpec, {**dataclasses.asdict(t), **entry.tasks.get(n, {})}, where=f"dataset_options.{name}.tasks.{n}")
        for n, t in defaults.items()
    ]
