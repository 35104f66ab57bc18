"""Census-Income preparation on tiny fixtures in the official raw format."""
from __future__ import annotations

import numpy as np

from benchmarks.base import get_dataset
from benchmarks.census_income import CATEGORICAL, COLUMNS, DENSE
from benchmarks.processed import load_schema, load_split
from conftest import census_rows, write_census


def _prepare(tmp_path, lines_test, lines_data=None, **options):
    raw = tmp_path / "raw"
    write_census(raw / "census-income.test.gz", lines_test)
    if lines_data is not None:
        write_census(raw / "census-income.data.gz", lines_data)
    ds = get_dataset("census_income", {"prepare": options})
    ds.prepare(raw, tmp_path / "out")
    return tmp_path / "out"


def test_test_split_protocol(tmp_path):
    lines = census_rows(400)
    out = _prepare(tmp_path, lines, protocol="test_split")
    schema = load_schema(out)
    assert schema["rows"] == {"train": 200, "val": 100, "test": 100}
    assert [t["name"] for t in schema["tasks"]] == ["income", "marital"]
    assert schema["dense"] == DENSE and [f["name"] for f in schema["categorical"]] == CATEGORICAL
    assert "census-income.test.gz" in schema["sources"]
    labels = np.concatenate([load_split(out, s)["labels"] for s in ("train", "val", "test")])
    expected_income = sum(ln.endswith("50000+.") for ln in lines)
    assert labels[:, 0].sum() == expected_income
    assert labels[:, 1].sum() == sum(", Never married," in ln for ln in lines)


def test_labels_are_never_features():
    assert {"income", "marital_stat", "instance_weight"}.isdisjoint(CATEGORICAL + DENSE)
    assert len(CATEGORICAL) + len(DENSE) + 3 == len(COLUMNS)


def test_official_protocol_halves_the_test_file_and_fits_vocabularies_on_train(tmp_path):
    train_lines = census_rows(300, seed=1)
    test_lines = census_rows(200, seed=2)
    # a class-of-worker value that appears only in the test file
    test_lines[0] = test_lines[0].replace(test_lines[0].split(", ")[1], "Never seen in train", 1)
    out = _prepare(tmp_path, test_lines, train_lines, protocol="official")
    schema = load_schema(out)
    assert schema["rows"] == {"train": 300, "val": 100, "test": 100}
    col = CATEGORICAL.index("class_of_worker")
    vocab = {f["name"]: f["vocab_size"] for f in schema["categorical"]}
    train_values = {ln.split(", ")[1] for ln in train_lines}
    assert vocab["class_of_worker"] == len(train_values) + 1
    ids = np.concatenate([load_split(out, s)["categorical"][:, col] for s in ("val", "test")])
    assert (ids == 0).sum() == 1  # exactly the unseen value maps to the unknown id
    dense = load_split(out, "train")["dense"]
    assert np.allclose(dense.mean(0), 0, atol=1e-5)
