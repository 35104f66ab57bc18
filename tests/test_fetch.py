"""Fetching: mirror copies are verified, bad checksums and missing sources fail clearly."""
from __future__ import annotations

import hashlib

import pytest

from benchmarks.base import Source
from benchmarks.fetch import ChecksumMismatch, MIRROR_ENV, SourceUnavailable, fetch_source


def _source(content: bytes, **kw) -> Source:
    return Source("f.bin", urls=(), size=len(content), sha256=hashlib.sha256(content).hexdigest(), **kw)


def test_mirror_copy_is_verified_and_cached(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "ds").mkdir(parents=True)
    (mirror / "ds" / "f.bin").write_bytes(b"hello")
    got = fetch_source(_source(b"hello"), "ds", tmp_path / "raw", mirror)
    assert got.origin.startswith("mirror:") and (tmp_path / "raw" / "f.bin").read_bytes() == b"hello"
    again = fetch_source(_source(b"hello"), "ds", tmp_path / "raw", None)
    assert again.origin == "cached" and again.sha256 == got.sha256


def test_mirror_paths_are_tried(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "odd" / "place").mkdir(parents=True)
    (mirror / "odd" / "place" / "x.gz").write_bytes(b"abc")
    source = _source(b"abc", mirror_paths=("odd/place/x.gz",))
    assert fetch_source(source, "ds", tmp_path / "raw", mirror).origin.endswith("odd/place/x.gz")


def test_checksum_mismatch_names_file_and_both_checksums_and_keeps_nothing(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "ds").mkdir(parents=True)
    (mirror / "ds" / "f.bin").write_bytes(b"hellO")
    source = _source(b"hello")
    with pytest.raises(ChecksumMismatch, match=rf"sha256 {hashlib.sha256(b'hellO').hexdigest()}, expected {source.sha256} for f.bin"):
        fetch_source(source, "ds", tmp_path / "raw", mirror)
    assert not (tmp_path / "raw" / "f.bin").exists()


def test_login_walled_source_explains_where_to_put_the_file(tmp_path):
    source = Source("secret.zip", manual="log in at https://tianchi.aliyun.com/dataset/1 and download secret.zip")
    with pytest.raises(SourceUnavailable) as info:
        fetch_source(source, "ds", tmp_path / "raw", tmp_path / "mirror")
    assert "manual download" in info.value.reason
    assert str(tmp_path / "raw" / "secret.zip") in info.value.fix and "tianchi" in info.value.fix


def test_network_failure_names_url_and_mirror_option(tmp_path):
    source = Source("f.bin", urls=("http://127.0.0.1:9/f.bin",))
    with pytest.raises(SourceUnavailable) as info:
        fetch_source(source, "ds", tmp_path / "raw", None, retries=1, timeout=2)
    assert "http://127.0.0.1:9/f.bin" in str(info.value) and MIRROR_ENV in info.value.fix
    assert not list((tmp_path / "raw").glob("f.bin*"))
