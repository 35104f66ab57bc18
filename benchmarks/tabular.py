"""Shared preparation steps for tabular raw files: strict parsing, vocabularies, dense scaling.

Errors name the file, the 1-based line and the column, and are raised before anything is written.
"""
from __future__ import annotations

import csv
import gzip
import io
import math
import zlib
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Literal

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
    return decode_lines(raw, path, encoding)


def decode_lines(raw: bytes, path: Path, encoding: str = "utf-8") -> list[str]:
    """All non-empty lines of ``raw`` (the bytes of ``path``, e.g. an archive member)."""
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


def parse_int(path: Path, column: str, values: np.ndarray, first_line: int = 1) -> np.ndarray:
    """Parse a string column to int64; an unparsable value names file, line and column."""
    try:
        return values.astype(np.int64)
    except (ValueError, TypeError):
        for i, v in enumerate(values):
            try:
                int(v)
            except (ValueError, TypeError):
                raise RawFormatError(f"{path}:{first_line + i}: column {column!r}: cannot parse {v!r} as an integer") from None
        raise


def check_binary(path: Path, column: str, values: np.ndarray, allowed=(0, 1), first_line: int = 1) -> np.ndarray:
    """Labels must lie in ``allowed``; the first offending row is named."""
    bad = ~np.isin(values, allowed)
    if bad.any():
        i = int(np.argmax(bad))
        value = values[i].item() if isinstance(values[i], np.generic) else values[i]
        raise RawFormatError(f"{path}:{first_line + i}: column {column!r}: label {value!r} not in {list(allowed)}")
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


Kind = Literal["int64", "float32", "float64", "str"]


def read_csv_strict(path: Path, columns: Sequence[str], kinds: Mapping[str, Kind] | None = None, *,
                    header: Literal["required", "optional", "absent"] = "required", sep: str = ",",
                    missing_ok: Collection[str] = (), data: bytes | None = None) -> tuple[pd.DataFrame, int]:
    """Read a delimited text file whose columns are exactly ``columns``; return the frame and the
    1-based line of its first row (row ``i`` is on line ``first + i``).

    ``kinds`` gives each column's type ("str" by default). ``header``: "required" (the first line
    names exactly ``columns``, in any order), "optional" (the first line is a header if it holds a
    non-numeric column name, or text under a numeric column) or "absent". Empty values, NaN and inf are errors
    except in ``missing_ok`` columns (a missing string is ""). Every error names the file, line and
    column; blank lines may only trail. ``data`` holds the bytes when the file is an archive member
    (``path`` then only names it).
    """
    kinds = {c: (kinds or {}).get(c, "str") for c in columns}
    raw = (data if data is not None else _read_bytes(path)).rstrip(b"\r\n\t ")
    if not raw:
        raise RawFormatError(f"{path}: the file is empty")
    first = next(csv.reader([raw.split(b"\n", 1)[0].decode("utf-8", "replace").rstrip("\r")], delimiter=sep))
    names = list(columns)
    has_header = header == "required" or header == "optional" and (
        any(f in columns and not _is_number(f) for f in first)
        or len(first) == len(columns) and any(kinds[c] != "str" and not _is_number(f) for c, f in zip(columns, first)))
    if has_header:
        names = _check_header(path, first, columns, sep)
    skip = int(has_header)
    if raw.count(b"\n") < skip:
        raise RawFormatError(f"{path}: no data rows after the header")
    dtype = {c: (str if kinds[c] == "str" else kinds[c]) for c in columns}
    try:
        frame = pd.read_csv(io.BytesIO(raw), sep=sep, header=None, names=names, skiprows=skip, dtype=dtype,
                            keep_default_na=False, na_values={c: [""] for c in columns if kinds[c] != "str"},
                            skip_blank_lines=False, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:  # a wrong row: find and name it
        _scan(path, raw, names, kinds, missing_ok, skip, sep)
        raise RawFormatError(f"{path}: {exc}") from None
    frame = frame[list(columns)]
    for c in columns:
        if c in missing_ok:
            continue
        values = frame[c].to_numpy()
        bad = values == "" if kinds[c] == "str" else ~np.isfinite(values) if kinds[c] != "int64" else None
        if bad is not None and bad.any():
            _scan(path, raw, names, kinds, missing_ok, skip, sep)
            raise RawFormatError(f"{path}:{skip + 1 + int(np.argmax(bad))}: column {c!r}: missing or non-finite value")
    return frame, skip + 1


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RawFormatError(f"{path}: cannot read ({exc})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_header(path: Path, found: list[str], columns: Sequence[str], sep: str) -> list[str]:
    """The header's column names, if they are exactly ``columns`` in some order."""
    if len(found) == 1 and len(columns) > 1:
        raise RawFormatError(f"{path}:1: the header is one field {found[0][:80]!r}; is the delimiter {sep!r}?")
    missing = [c for c in columns if c not in found]
    extra = [c for c in found if c not in columns]
    if missing or extra:
        raise RawFormatError(f"{path}:1: header: missing column(s) {missing}, unexpected column(s) {extra}")
    if len(set(found)) != len(found):
        raise RawFormatError(f"{path}:1: header: duplicated column(s) {sorted({c for c in found if found.count(c) > 1})}")
    return found


def _scan(path: Path, raw: bytes, names: list[str], kinds: Mapping[str, str], missing_ok: Collection[str],
          skip: int, sep: str) -> None:
    """Raise for the first line that breaks the format (slow; runs only once something failed)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RawFormatError(f"{path}:{line}: bytes that are not valid utf-8") from None
    for lineno, line in enumerate(text.split("\n")[skip:], start=skip + 1):
        line = line.rstrip("\r")
        if not line.strip():
            raise RawFormatError(f"{path}:{lineno}: empty line")
        fields = next(csv.reader([line], delimiter=sep))
        if len(fields) != len(names):
            hint = f" (is the delimiter {sep!r}?)" if len(fields) == 1 else ""
            raise RawFormatError(f"{path}:{lineno}: expected {len(names)} fields, found {len(fields)}{hint}")
        for c, v in zip(names, fields):
            where = f"{path}:{lineno}: column {c!r}"
            if v.strip() == "" and kinds[c] != "str" or v == "" and kinds[c] == "str":
                if c in missing_ok:
                    continue
                raise RawFormatError(f"{where}: empty value")
            if kinds[c] == "int64":
                try:
                    int(v)
                except ValueError:
                    raise RawFormatError(f"{where}: cannot parse {v!r} as an integer") from None
            elif kinds[c] != "str":
                if not _is_number(v):
                    raise RawFormatError(f"{where}: cannot parse {v!r} as a number")
                if not math.isfinite(float(v)) and c not in missing_ok:
                    raise RawFormatError(f"{where}: value {v!r} is not finite")


def grouped_split(groups: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Like ``seeded_split``, but over whole groups: every row of a group lands in the same part
    (parts are sized by number of groups)."""
    unique, inverse = np.unique(groups, return_inverse=True)
    parts = seeded_split(len(unique), fractions, seed)
    part_of = np.empty(len(unique), dtype=np.int64)
    for i, part in enumerate(parts):
        part_of[part] = i
    return [np.flatnonzero(part_of[inverse] == i) for i in range(len(parts))]


def quantile_buckets(columns: dict[str, dict[str, np.ndarray]], n_buckets: int) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Bucketise numeric columns at train quantiles: ``columns[name][split]`` -> per-split [n, D]
    ids and schema features. Ids are 1..B by value (ties merge buckets); NaN maps to 0 (unknown)."""
    splits = next(iter(columns.values())).keys()
    features, out = [], {s: [] for s in splits}
    for name, per_split in columns.items():
        train = np.asarray(per_split["train"], dtype=np.float64)
        train = train[np.isfinite(train)]
        edges = np.unique(np.quantile(train, np.linspace(0, 1, n_buckets + 1)[1:-1])) if len(train) else np.empty(0)
        features.append({"name": name, "vocab_size": len(edges) + 2})
        for s in splits:
            v = np.asarray(per_split[s], dtype=np.float64)
            ids = np.searchsorted(edges, v, side="right") + 1
            out[s].append(np.where(np.isnan(v), 0, ids).astype(np.int64))
    return {s: np.stack(v, axis=1) for s, v in out.items()}, features
