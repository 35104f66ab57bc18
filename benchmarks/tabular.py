"""Shared preparation steps for tabular raw files: strict parsing, vocabularies, dense scaling.

Errors name the file, the 1-based line and the column, and are raised before anything is written.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .base import RawFormatError


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """All non-empty lines of a text file (gzip-compressed when it ends in .gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, OSError, zlib.error) as exc:
        raise RawFormatError(f"{path}: cannot read ({exc}); the file is truncated or corrupt") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RawFormatError(f"{path}:{line}: bytes that are not valid {encoding}") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise RawFormatError(f"{path}: the file is empty")
    return lines


def split_fields(path: Path, lines: list[str], sep: str, n_fields: int, first_line: int = 1) -> np.ndarray:
    """Split lines into a [n, n_fields] object array of stripped strings; a wrong field count names
    file and line."""
    rows = [[f.strip() for f in ln.split(sep)] for ln in lines]
    for i, row in enumerate(rows):
        if len(row) != n_fields:
            hint = f" (is the delimiter {sep!r}?)" if len(row) == 1 else ""
            raise RawFormatError(f"{path}:{first_line + i}: expected {n_fields} fields, found {len(row)}{hint}")
    return np.array(rows, dtype=object)


def parse_float(path: Path, column: str, values: np.ndarray, first_line: int = 1) -> np.ndarray:
    """Parse a string column to float32; an unparsable or non-finite value names file, line, column."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            raise RawFormatError(f"{path}:{first_line + i}: column {column!r}: cannot parse {v!r} as a number") from None
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        raise RawFormatError(f"{path}:{first_line + i}: column {column!r}: value {values[i]!r} is not finite")
    return out.astype(np.float32)


def check_binary(path: Path, column: str, values: np.ndarray, allowed=(0, 1), first_line: int = 1) -> np.ndarray:
    """Labels must lie in ``allowed``; the first offending row is named."""
    bad = ~np.isin(values, allowed)
    if bad.any():
        i = int(np.argmax(bad))
        raise RawFormatError(f"{path}:{first_line + i}: column {column!r}: label {values[i]!r} not in {list(allowed)}")
    return values


class Vocabulary:
    """Ids 1..V for the values seen in train (sorted, so ids are deterministic); 0 = unknown."""

    def __init__(self, train_values: np.ndarray, min_count: int = 1) -> None:
        counts = pd.Series(train_values).value_counts()
        self.index = pd.Index(sorted(counts.index[counts >= min_count]))

    @property
    def size(self) -> int:
        return len(self.index) + 1

    def encode(self, values: np.ndarray) -> np.ndarray:
        return (self.index.get_indexer(values) + 1).astype(np.int64)


def encode_categorical(columns: dict[str, dict[str, np.ndarray]], min_count: int = 1) -> tuple[dict[str, np.ndarray], list[dict]]:
    """``columns[name][split]`` -> per-split [n, F] id arrays and the schema feature list (fitted on train)."""
    splits = next(iter(columns.values())).keys()
    features, encoded = [], {s: [] for s in splits}
    for name, per_split in columns.items():
        vocab = Vocabulary(per_split["train"], min_count)
        features.append({"name": name, "vocab_size": vocab.size})
        for s in splits:
            encoded[s].append(vocab.encode(per_split[s]))
    return {s: np.stack(v, axis=1) for s, v in encoded.items()}, features


def standardize(columns: dict[str, dict[str, np.ndarray]], log1p: bool = False) -> dict[str, np.ndarray]:
    """Scale each dense column with the train mean/std (optionally after sign-preserving log1p)."""
    splits = next(iter(columns.values())).keys()
    out = {s: [] for s in splits}
    for per_split in columns.values():
        t = {s: (np.sign(v) * np.log1p(np.abs(v)) if log1p else v).astype(np.float64) for s, v in per_split.items()}
        mean, std = t["train"].mean(), t["train"].std()
        for s in splits:
            out[s].append(((t[s] - mean) / (std if std > 0 else 1.0)).astype(np.float32))
    return {s: np.stack(v, axis=1) for s, v in out.items()}


def seeded_split(n: int, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Partition ``range(n)`` into sorted index arrays of the given fractions (seeded permutation)."""
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(fractions)[:-1] / sum(fractions) * n).astype(int)
    return [np.sort(part) for part in np.split(perm, bounds)]
