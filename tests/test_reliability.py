"""Fault injection: interrupted downloads and jobs, corrupt files, bad input, stale runs, reruns."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.aggregate import StaleRunError, check_fresh
from benchmarks.base import RawFormatError, Source, get_dataset
from benchmarks.fetch import ChecksumMismatch, fetch_source
from benchmarks.tabular import Vocabulary, parse_float, split_fields
from conftest import census_rows, write_census
from core.io import read_json
from test_workflow import TINY, snakemake

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class _Server(http.server.ThreadingHTTPServer):
    """Serves PAYLOAD on loopback; can ignore Range, corrupt the body or drop the first response."""

    honour_range = True
    corrupt = False
    drop_first = False
    ranges: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: N802 (http.server API)
        server: _Server = self.server  # type: ignore[assignment]
        body = PAYLOAD[:-1] + b"\x00" if server.corrupt else PAYLOAD
        start = 0
        header = self.headers.get("Range")
        server.ranges.append(header)
        if header and server.honour_range:
            start = int(header.split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.drop_first:
            server.drop_first = False
            self.wfile.write(body[start:start + len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body[start:])


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _source(srv) -> Source:
    return Source("payload.bin", (f"http://127.0.0.1:{srv.server_port}/payload.bin",), size=len(PAYLOAD),
                  sha256=hashlib.sha256(PAYLOAD).hexdigest())


def test_partial_download_resumes_with_a_range_request(server, tmp_path):
    (tmp_path / "payload.bin.part").write_bytes(PAYLOAD[:1000])
    fetch_source(_source(server), "ds", tmp_path, None)
    assert (tmp_path / "payload.bin").read_bytes() == PAYLOAD and server.ranges == ["bytes=1000-"]
    assert not (tmp_path / "payload.bin.part").exists()


def test_partial_download_restarts_when_the_server_ignores_range(server, tmp_path):
    server.honour_range = False
    (tmp_path / "payload.bin.part").write_bytes(b"garbage")
    fetch_source(_source(server), "ds", tmp_path, None)
    assert (tmp_path / "payload.bin").read_bytes() == PAYLOAD


def test_dropped_connection_is_retried_and_resumed(server, tmp_path):
    server.drop_first = True
    fetch_source(_source(server), "ds", tmp_path, None, retries=2)
    assert (tmp_path / "payload.bin").read_bytes() == PAYLOAD
    assert server.ranges[0] is None and server.ranges[1].startswith("bytes=")


def test_corrupt_download_keeps_nothing_and_touches_no_good_file(server, tmp_path):
    server.corrupt = True
    (tmp_path / "other.bin").write_bytes(b"good")
    with pytest.raises(ChecksumMismatch) as info:
        fetch_source(_source(server), "ds", tmp_path, None)
    message = str(info.value)
    assert "payload.bin" in message and hashlib.sha256(PAYLOAD).hexdigest() in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.bin"]


# --- interrupted training -------------------------------------------------------------------

TRAIN = """
import sys
from pathlib import Path
from training.loop import train_run
from training.suite import resolve_run
suite = {"datasets": ["census_income"], "models": ["resflow"], "seeds": [3],
         "training": {"epochs": 4, "batch_size": 32, "patience": 10},
         "dataset_options": {"census_income": {"prepare": {"protocol": "test_split"}, "model": {"embedding_dim": 4}}}}
train_run(Path(sys.argv[1]), Path(sys.argv[2]), resolve_run(suite, "census_income", "resflow", 3))
"""


def _train_process(data, run):
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(data), str(run)])


def test_sigkill_mid_epoch_then_rerun_is_bit_identical(tmp_path):
    write_census(tmp_path / "raw" / "census-income.test.gz", census_rows(2000))
    get_dataset("census_income", {"prepare": {"protocol": "test_split"}}).prepare(tmp_path / "raw", tmp_path / "data")
    assert _train_process(tmp_path / "data", tmp_path / "full").wait(300) == 0
    proc = _train_process(tmp_path / "data", tmp_path / "killed")
    checkpoint = tmp_path / "killed" / "checkpoint.pt"
    deadline = time.time() + 300
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # only the checkpoint (and perhaps a temporary .part file) survives: no output under its final name
    left = {p.name for p in (tmp_path / "killed").iterdir() if not p.name.endswith(".part")}
    assert left == {"checkpoint.pt"}
    assert _train_process(tmp_path / "data", tmp_path / "killed").wait(300) == 0
    for name in ("metrics.json", "predictions.npz", "history.csv"):
        if name == "history.csv":  # holds per-epoch wall times; compare everything else
            a = pd.read_csv(tmp_path / "full" / name).drop(columns="seconds")
            b = pd.read_csv(tmp_path / "killed" / name).drop(columns="seconds")
            pd.testing.assert_frame_equal(a, b)
        else:
            assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "killed" / name).read_bytes()


# --- stale runs and reruns ------------------------------------------------------------------

def test_stale_runs_are_refused_and_named(tmp_path):
    run = tmp_path / "ds" / "m" / "seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    (run / "meta.json").write_text('{"dataset": "ds", "model": "m", "seed": 0, "config_hash": "aaa", "data_checksums": {"f": "1"}}')
    check_fresh([run / "metrics.json"], {"ds/m/seed0": "aaa"}, {"ds": {"f": "1"}})
    with pytest.raises(StaleRunError, match=r"seed0: config hash aaa, current bbb"):
        check_fresh([run / "metrics.json"], {"ds/m/seed0": "bbb"}, {"ds": {"f": "1"}})
    with pytest.raises(StaleRunError, match=r"seed0: trained on other data"):
        check_fresh([run / "metrics.json"], {"ds/m/seed0": "aaa"}, {"ds": {"f": "2"}})


@pytest.mark.slow
def test_two_fresh_runs_of_the_dag_are_byte_identical_and_stale_runs_are_refused(tmp_path, census_mirror):
    config = {**TINY, "models": ["resflow"], "seeds": [0]}
    for name in ("a", "b"):
        snakemake(tmp_path / name, config, mirror=census_mirror)
    for rel in ("results/tables/metrics_long.csv", "results/runs/census_income/resflow/seed0/metrics.json",
                "results/runs/census_income/resflow/seed0/predictions.npz"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    # change the config but keep the old runs (mtime-only rerun triggers): aggregation must refuse
    changed = {**config, "training": {**config["training"], "lr": 0.01}}
    result = snakemake(tmp_path / "a", changed, "--rerun-triggers", "mtime", "--forcerun", "aggregate", mirror=census_mirror, check=False)
    assert result.returncode != 0
    log = (tmp_path / "a" / "logs" / "aggregate.log").read_text()
    assert "refusing to mix stale runs" in log and "census_income/resflow/seed0" in log


# --- bad input catalogue (Census-Income raw format; other formats: their dataset tests) ------

def _good_lines():
    return census_rows(20)


def _with(line_no, mutate):
    def build(path: Path):
        lines = _good_lines()
        lines[line_no - 1] = mutate(lines[line_no - 1])
        write_census(path, lines)
    return build


def _raw(content: bytes):
    def build(path: Path):
        with gzip.open(path, "wb") as fh:
            fh.write(content)
    return build


def _truncated(path: Path):
    write_census(path, _good_lines())
    path.write_bytes(path.read_bytes()[:-30])


def _first_age(mutate):
    return lambda ln: mutate(ln.split(", ", 1)[0]) + ln[ln.index(","):]


CATALOGUE = {
    "wrong delimiter": (_with(3, lambda ln: ln.replace(", ", "\t")), r":3: expected 42 fields, found 1 \(is the delimiter"),
    "missing column": (_with(3, lambda ln: ln.rsplit(", ", 1)[0]), r":3: expected 42 fields, found 41"),
    "extra column": (_with(3, lambda ln: ln + ", 7"), r":3: expected 42 fields, found 43"),
    "unparsable number": (_with(3, _first_age(lambda v: "abc")), r":3: column 'age': cannot parse 'abc'"),
    "NaN": (_with(3, _first_age(lambda v: "nan")), r":3: column 'age': value 'nan' is not finite"),
    "inf": (_with(3, _first_age(lambda v: "inf")), r":3: column 'age': value 'inf' is not finite"),
    "label outside the allowed set": (_with(3, lambda ln: ln.rsplit(", ", 1)[0] + ", 42."), r":3: column 'income': label '42.'"),
    "duplicated header": (_with(1, lambda ln: ", ".join(["age"] * 42)), r":1: column 'age': cannot parse 'age'"),
    "empty file": (_raw(b""), r"the file is empty"),
    "truncated gzip": (_truncated, r"truncated or corrupt"),
    "non-UTF-8 bytes": (_raw(b"73, \xff\xfe\n"), r":1: bytes that are not valid utf-8"),
}


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_bad_census_input_gets_a_clear_error_and_leaves_nothing(tmp_path, case):
    build, message = CATALOGUE[case]
    raw = tmp_path / "raw"
    raw.mkdir()
    build(raw / "census-income.test.gz")
    with pytest.raises(RawFormatError, match=r"census-income\.test\.gz" + (r".*" if not message.startswith(":") else "") + message):
        get_dataset("census_income", {"prepare": {"protocol": "test_split"}}).prepare(raw, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


# --- property-based tests of the parsers ----------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="abc xyz.-19", max_size=6), min_size=3, max_size=3), min_size=1, max_size=20))
def test_split_fields_round_trips_and_strips(rows):
    lines = [",".join(r) for r in rows]
    table = split_fields(Path("f.csv"), lines, ",", 3)
    assert table.shape == (len(rows), 3)
    assert [list(r) for r in table] == [[f.strip() for f in r] for r in rows]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=30))
def test_parse_float_round_trips_finite_numbers(values):
    parsed = parse_float(Path("f.csv"), "x", np.array([repr(v) for v in values], dtype=object))
    assert np.array_equal(parsed, np.array(values, dtype=np.float32))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from("abcdef"), min_size=1, max_size=40), st.lists(st.sampled_from("abcdefgh"), max_size=40))
def test_vocabulary_maps_exactly_the_unseen_values_to_zero(train, other):
    vocab = Vocabulary(np.array(train, dtype=object))
    ids = vocab.encode(np.array(other, dtype=object))
    assert vocab.size == len(set(train)) + 1
    assert [i == 0 for i in ids] == [v not in set(train) for v in other]
    assert len({i for i in vocab.encode(np.array(train, dtype=object))}) == len(set(train))
