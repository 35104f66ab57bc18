"""Fetch official source files: offline mirror first, then the official URLs.

Every file is verified (size, sha256, md5 where known) before it is placed under its final name;
downloads go to ``<name>.part`` (resumed with an HTTP Range request when the server allows it)
and are renamed only once verified. ``RESFLOW_DATA_MIRROR=<dir>`` serves the same files offline.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .base import Benchmark, Source

MIRROR_ENV = "RESFLOW_DATA_MIRROR"
CHUNK = 1 << 20


class SourceUnavailable(RuntimeError):
    """A source could not be obtained; ``fix`` tells a person exactly what to do."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(f"{reason}\nFix: {fix}")
        self.reason, self.fix = reason, fix


class ChecksumMismatch(ValueError):
    """A file's size or checksum differs from the published value."""


@dataclass(frozen=True)
class Fetched:
    filename: str
    sha256: str
    origin: str


def _digests(path: Path) -> dict[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            sha.update(chunk)
            md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def verify(path: Path, source: Source) -> str:
    """Check size and checksums of ``path`` against ``source``; return its sha256."""
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise ChecksumMismatch(f"{path}: size {size} B, expected {source.size} B for {source.filename}")
    found = _digests(path)
    for algo in ("sha256", "md5"):
        expected = getattr(source, algo)
        if expected and found[algo] != expected.lower():
            raise ChecksumMismatch(f"{path}: {algo} {found[algo]}, expected {expected} for {source.filename}")
    return found["sha256"]


def mirror_candidates(source: Source, dataset: str, mirror: Path) -> list[Path]:
    rels = [*source.mirror_paths, f"{dataset}/{source.filename}", source.filename]
    return [mirror / r for r in rels]


def fetch_source(source: Source, dataset: str, dest_dir: Path, mirror: Path | None,
                 retries: int = 3, timeout: float = 60.0) -> Fetched:
    """Place a verified copy of ``source`` in ``dest_dir``; raise ``SourceUnavailable`` if impossible."""
    dest = dest_dir / source.filename
    if dest.exists():
        try:
            return Fetched(source.filename, verify(dest, source), "cached")
        except ChecksumMismatch:
            dest.unlink()  # a stale or corrupt copy under the final name is never kept
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if mirror is not None:
        for candidate in mirror_candidates(source, dataset, mirror):
            if candidate.is_file():
                shutil.copyfile(candidate, part)
                sha = verify(part, source)  # a bad mirror copy is an error, not a silent fallback
                os.replace(part, dest)
                return Fetched(source.filename, sha, f"mirror:{candidate}")
    if not source.urls:
        where = f" or in {mirror}/{dataset}/{source.filename}" if mirror else ""
        raise SourceUnavailable(
            f"{dataset}: {source.filename} needs a manual download (login required)",
            f"{source.manual or 'download it by hand'}; place it at {dest}{where}",
        )
    errors = []
    for url in source.urls:
        for attempt in range(1, retries + 1):
            try:
                _download(url, part, timeout)
                sha = verify(part, source)
                os.replace(part, dest)
                return Fetched(source.filename, sha, url)
            except ChecksumMismatch:
                part.unlink(missing_ok=True)
                raise
            except OSError as exc:  # requests' errors derive from OSError
                errors.append(f"{url} (attempt {attempt}): {exc}")
                time.sleep(min(2 ** attempt, 10) if attempt < retries else 0)
    raise SourceUnavailable(
        f"{dataset}: could not download {source.filename}: " + "; ".join(errors[-len(source.urls):]),
        f"check the network, or set {MIRROR_ENV}=<dir> to a folder holding {dataset}/{source.filename} "
        f"(official URL: {source.urls[0]})",
    )


def _download(url: str, part: Path, timeout: float) -> None:
    """Stream ``url`` into ``part``, resuming a partial file when the server honours Range."""
    import requests  # imported lazily: offline runs never need it

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with requests.get(url, stream=True, timeout=timeout, headers=headers) as response:
        response.raise_for_status()
        resumed = response.status_code == 206
        total = int(response.headers.get("Content-Length", 0)) + (have if resumed else 0)
        with open(part, "ab" if resumed else "wb") as fh, tqdm(
            total=total or None, initial=have if resumed else 0, unit="B", unit_scale=True,
            desc=part.name.removesuffix(".part"), mininterval=1.0,
        ) as bar:
            for chunk in response.iter_content(CHUNK):
                fh.write(chunk)
                bar.update(len(chunk))


def mirror_from_env() -> Path | None:
    value = os.environ.get(MIRROR_ENV)
    return Path(value).expanduser().resolve() if value else None


def local_availability(dataset: Benchmark, raw_root: str | os.PathLike) -> dict[str, bool]:
    """Which sources already have a local copy (in ``raw_root/<dataset>`` or the mirror).

    The fetch rule uses this as a rerun trigger: it changes only when a missing file is placed.
    """
    mirror = mirror_from_env()
    raw = Path(raw_root) / dataset.name
    return {
        s.filename: (raw / s.filename).is_file()
        or (mirror is not None and any(p.is_file() for p in mirror_candidates(s, dataset.name, mirror)))
        for s in dataset.sources()
    }


def fetch_dataset(dataset: Benchmark, raw_dir: Path, strict: bool) -> dict:
    """Fetch every source of ``dataset``; return the status written to ``fetch.json``.

    A missing source makes the dataset unavailable (with the reason and the fix), or an error when
    ``strict``. A checksum mismatch is always an error.
    """
    mirror = mirror_from_env()
    files, missing = {}, []
    for source in dataset.sources():
        try:
            fetched = fetch_source(source, dataset.name, raw_dir, mirror)
            files[fetched.filename] = {"sha256": fetched.sha256, "origin": fetched.origin}
        except SourceUnavailable as exc:
            if strict:
                raise
            missing.append({"file": source.filename, "reason": exc.reason, "fix": exc.fix})
    return {"dataset": dataset.name, "available": not missing, "files": files, "missing": missing}
