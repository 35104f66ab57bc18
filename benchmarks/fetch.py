"""Fetch official source files: offline mirror first, then the official URLs.

Every file is verified (size, sha256, md5 where known) before it is placed under its final name;
downloads go to ``<name>.part`` (resumed with an HTTP Range request when the server allows it)
and are renamed only once verified. ``RESFLOW_DATA_MIRROR=<dir>`` serves the same files offline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .base import Benchmark, RawFormatError, Source

MIRROR_ENV = "RESFLOW_DATA_MIRROR"
CHUNK = 1 << 20
NET_CHUNK = 1 << 16  # small network chunks: an interrupted download keeps what it received


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
    #: None when the archive itself is absent and its extracted ``members`` were taken instead
    sha256: str | None
    origin: str
    members: dict[str, str] = field(default_factory=dict)


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
    if source.members and _has_members(dest_dir, source):
        return _take_members(source, dest_dir, dest_dir, "cached (extracted members)")
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if mirror is not None:
        for candidate in mirror_candidates(source, dataset, mirror):
            if candidate.is_file():
                shutil.copyfile(candidate, part)
                sha = verify(part, source)  # a bad mirror copy is an error, not a silent fallback
                os.replace(part, dest)
                return Fetched(source.filename, sha, f"mirror:{candidate}")
        for candidate in mirror_candidates(source, dataset, mirror) if source.members else ():
            if _has_members(candidate.parent, source):
                return _take_members(source, candidate.parent, dest_dir, f"mirror:{candidate.parent} (extracted members)")
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
            for chunk in response.iter_content(NET_CHUNK):
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
    def present(s: Source, path: Path) -> bool:
        return path.is_file() or bool(s.members) and _has_members(path.parent, s)

    return {
        s.filename: present(s, raw / s.filename)
        or (mirror is not None and any(present(s, p) for p in mirror_candidates(s, dataset.name, mirror)))
        for s in dataset.sources()
    }


def fetch_dataset(dataset: Benchmark, raw_dir: Path, strict: bool, verify_checksums: bool = True) -> dict:
    """Fetch every source of ``dataset``; return the status written to ``fetch.json``.

    A missing source makes the dataset unavailable (with the reason and the fix), or an error when
    ``strict``. A checksum mismatch is always an error, unless ``verify_checksums`` is off (for
    fixtures and re-packed copies); the status then records ``verified: false``.
    """
    mirror = mirror_from_env()
    files, missing = {}, []
    for source in dataset.sources():
        if not verify_checksums:
            members = tuple(dataclasses.replace(m, size=None, sha256=None, md5=None) for m in source.members)
            source = dataclasses.replace(source, size=None, sha256=None, md5=None, members=members)
        try:
            fetched = fetch_source(source, dataset.name, raw_dir, mirror)
            files[fetched.filename] = {"sha256": fetched.sha256, "origin": fetched.origin,
                                       **({"members": fetched.members} if fetched.members else {})}
        except SourceUnavailable as exc:
            if strict:
                raise
            missing.append({"file": source.filename, "reason": exc.reason, "fix": exc.fix})
    return {"dataset": dataset.name, "available": not missing, "verified": verify_checksums,
            "files": files, "missing": missing}


def _has_members(root: Path, source: Source) -> bool:
    return all((root / m.filename).is_file() for m in source.members)


def _take_members(source: Source, root: Path, dest_dir: Path, origin: str) -> Fetched:
    """Verify the extracted members of ``source`` under ``root`` (those with known checksums) and
    place them under ``dest_dir``: all of them, or none if one fails."""
    if root == dest_dir:
        shas = {m.filename: verify(root / m.filename, m) for m in source.members}
        return Fetched(source.filename, None, origin, shas)
    parts = {m.filename: dest_dir / (m.filename + ".part") for m in source.members}
    try:
        shas = {}
        for m in source.members:
            parts[m.filename].parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / m.filename, parts[m.filename])
            shas[m.filename] = verify(parts[m.filename], m)
        for name, part in parts.items():
            os.replace(part, dest_dir / name)
    finally:
        for part in parts.values():
            part.unlink(missing_ok=True)
    return Fetched(source.filename, None, origin, shas)


def read_member(raw_dir: Path, source: Source, name: str) -> tuple[bytes, Path]:
    """The bytes of member ``name`` of archive ``source`` and a path naming it in error messages.

    Reads ``raw_dir/<archive>`` (zip or tar) when present, else the extracted ``raw_dir/<name>``.
    In an archive, ``name`` matches exactly or, failing that, as the unique member ending in
    ``/<name>`` (archives differ in their top-level folder).
    """
    archive = raw_dir / source.filename
    if not archive.exists():
        path = raw_dir / name
        if not path.is_file():
            raise RawFormatError(f"{archive}: missing, and no extracted member at {path}")
        return path.read_bytes(), path
    try:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as zf:
                found = _find_member(archive, zf.namelist(), name)
                return zf.read(found), archive / found
        with tarfile.open(archive, "r:*") as tf:
            found = _find_member(archive, [m.name for m in tf.getmembers() if m.isfile()], name)
            return tf.extractfile(found).read(), archive / found
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile, tarfile.TarError) as exc:
        raise RawFormatError(f"{archive}: cannot read member {name} ({exc}); the archive is truncated or corrupt") from None


def _find_member(archive: Path, names: list[str], name: str) -> str:
    if name in names:
        return name
    matches = [n for n in names if n.endswith("/" + name)]
    if len(matches) != 1:
        raise RawFormatError(f"{archive}: expected one member {name!r}, found {len(matches) or 'none'}")
    return matches[0]
