"""The processed format (contract 1): per-split arrays that memory-map, plus ``schema.json``.

Layout of ``resources/processed/<name>/``::

    schema.json                 features, tasks in order, group key, row counts, drops, sources
    <split>/labels.npy          float32 [n, K] in {0, 1}, columns in task order
    <split>/categorical.npy     int64 [n, F] ids, 0 = unknown (tabular)
    <split>/dense.npy           float32 [n, D] (tabular)
    <split>/image.npy           uint8 [n, C, H, W] (image input)
    <split>/group.npy           int64 [n] group ids (when the dataset has a group key)

``write_processed`` validates every array before anything is written and writes into a temporary
folder that is renamed into place at the end, so a failure leaves no partial output behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from core.io import read_json, write_json, write_npy

SPLITS = ("train", "val", "test")
ARRAYS = {"labels": np.float32, "categorical": np.int64, "dense": np.float32, "image": np.uint8, "group": np.int64}


def write_processed(out_dir: str | os.PathLike, splits: dict[str, dict[str, np.ndarray]], schema: dict[str, Any]) -> None:
    """Validate and write all splits and the schema atomically (one folder rename)."""
    out_dir = Path(out_dir)
    if set(splits) != set(SPLITS):
        raise ValueError(f"expected splits {SPLITS}, got {sorted(splits)}")
    n_tasks = len(schema["tasks"])
    for split, arrays in splits.items():
        _validate_split(split, arrays, n_tasks, schema)
    schema = {
        **schema,
        "rows": {s: int(len(splits[s]["labels"])) for s in SPLITS},
        # a funnel: every positive of task k is a positive of task k-1 (in every split)
        "funnel": bool(all((np.diff(splits[s]["labels"], axis=1) <= 0).all() for s in SPLITS)),
        "positive_rates": {
            s: {t["name"]: float(splits[s]["labels"][:, i].mean()) if len(splits[s]["labels"]) else float("nan")
                for i, t in enumerate(schema["tasks"])}
            for s in SPLITS
        },
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for split, arrays in splits.items():
            for key, array in arrays.items():
                write_npy(tmp / split / f"{key}.npy", np.ascontiguousarray(array, dtype=ARRAYS[key]))
        write_json(tmp / "schema.json", schema)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _validate_split(split: str, arrays: dict[str, np.ndarray], n_tasks: int, schema: dict[str, Any]) -> None:
    unknown = set(arrays) - set(ARRAYS)
    if unknown:
        raise ValueError(f"{split}: unknown arrays {sorted(unknown)}")
    labels = arrays["labels"]
    if labels.ndim != 2 or labels.shape[1] != n_tasks:
        raise ValueError(f"{split}: labels must be [n, {n_tasks}], got {labels.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{split}: labels must be 0 or 1")
    n = len(labels)
    for key, array in arrays.items():
        if len(array) != n:
            raise ValueError(f"{split}: {key} has {len(array)} rows, labels have {n}")
    if "dense" in arrays and not np.isfinite(arrays["dense"]).all():
        raise ValueError(f"{split}: dense features contain NaN or inf")
    if "categorical" in arrays:
        cat = arrays["categorical"]
        vocab = np.array([f["vocab_size"] for f in schema["categorical"]])
        if cat.ndim != 2 or cat.shape[1] != len(vocab):
            raise ValueError(f"{split}: categorical must be [n, {len(vocab)}], got {cat.shape}")
        if n and ((cat < 0).any() or (cat >= vocab).any()):
            raise ValueError(f"{split}: categorical ids outside [0, vocab_size)")
    if (schema.get("group_key") is not None) != ("group" in arrays):
        raise ValueError(f"{split}: a group array is required exactly when schema has a group_key")


def load_schema(data_dir: str | os.PathLike) -> dict[str, Any]:
    return read_json(Path(data_dir) / "schema.json")


def load_split(data_dir: str | os.PathLike, split: str, mmap: bool = True) -> dict[str, np.ndarray]:
    """All arrays of one split, memory-mapped by default."""
    folder = Path(data_dir) / split
    return {p.stem: np.load(p, mmap_mode="r" if mmap else None) for p in sorted(folder.glob("*.npy"))}
