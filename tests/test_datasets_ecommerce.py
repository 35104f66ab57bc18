"""AliExpress, Ali-CCP, KuaiRand-Pure and MovieLens: tiny fixtures in the official raw formats,
prepared end to end; leakage, train-only vocabularies, group keys, protocol drops and bad input."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks import aliexpress, ali_ccp, kuairand, movielens
from benchmarks.base import RawFormatError, get_dataset
from benchmarks.fetch import ChecksumMismatch, fetch_dataset, fetch_source, local_availability
from benchmarks.processed import load_schema, load_split

SPLITS = ("train", "val", "test")


# --------------------------------------------------------------------------- fixtures (official formats)
def ae_frame(n: int, seed: int, first_search: int = 0) -> pd.DataFrame:
    """Rows in the MTReclib AE format; click depends on categorical_1 and numerical_1."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"search_id": first_search + np.arange(n) // 5})
    for i in range(1, 17):
        frame[f"categorical_{i}"] = rng.integers(0, 4, n)
    for i in range(1, 64):
        frame[f"numerical_{i}"] = rng.random(n).round(4)
    score = (frame["categorical_1"] == 1) + frame["numerical_1"]
    frame["click"] = (score + rng.random(n) > 1.4).astype(int)
    frame["conversion"] = frame["click"] * (rng.random(n) < 0.5)
    return frame


def write_ae(raw: Path, n: int = 200) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    ae_frame(n, seed=1).to_csv(raw / "train.csv", index=False)
    test = ae_frame(n // 2, seed=2, first_search=10_000)
    test.loc[0, "categorical_2"] = 99  # a category seen only in test
    test.to_csv(raw / "test.csv", index=False)
    return raw


def aitm_lines(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        ids = [str(int(rng.integers(0, 5)))] + [str(int(rng.integers(0, 50))) for _ in ali_ccp.FIELDS[1:]]
        click = int(rng.random() < 0.3)
        purchase = int(rng.random() < 0.3) if click else int(i % 17 == 0)  # some click=0, purchase=1 rows
        lines.append(",".join([str(click), str(purchase), *ids]))
    return lines


def write_aitm(raw: Path, n: int = 120, test_header: bool = False) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    header = ",".join(ali_ccp.COLUMNS)
    (raw / "ctr_cvr.train").write_text("\n".join([header, *aitm_lines(n, 1)]) + "\n")
    (raw / "ctr_cvr.test").write_text("\n".join(([header] if test_header else []) + aitm_lines(n // 2, 2)) + "\n")
    return raw


def kuairand_files(n: int = 400, seed: int = 0) -> dict[str, pd.DataFrame]:
    """The six KuaiRand-Pure CSVs with the README's columns; play time depends on the video."""
    rng = np.random.default_rng(seed)
    days = [20220408 + d for d in range(23)] + [20220501 + d for d in range(8)]
    logs = {}
    for j, name in enumerate(kuairand.LOGS):
        video = rng.integers(0, 30, n)
        log = pd.DataFrame({c: rng.integers(0, 2, n) for c in kuairand.LOG_COLUMNS})
        log["user_id"] = rng.integers(0, 40, n)
        log["video_id"] = video
        log["date"] = rng.choice(days, n)
        log["hourmin"] = rng.integers(0, 24, n) * 100
        log["time_ms"] = 1_650_000_000_000 + rng.integers(0, 10**9, n)
        log["play_time_ms"] = (video * 3000 + rng.integers(0, 10_000, n)) * (rng.random(n) > 0.1)
        log["duration_ms"] = rng.integers(5000, 100_000, n)
        log["profile_stay_time"] = rng.integers(0, 100, n)
        log["comment_stay_time"] = rng.integers(0, 100, n)
        log["tab"] = rng.choice([0, 1, 1, 1, 2], n)
        logs[name] = log
    users = pd.DataFrame({"user_id": np.arange(40)})
    for c in kuairand.USER_COLUMNS[1:]:
        users[c] = rng.integers(0, 5, 40) if c in kuairand.USER_NUMERIC or c.startswith(("is_", "onehot")) else rng.choice(["a", "b", "(0,10]"], 40)
    users.loc[3, "onehot_feat4"] = np.nan  # missing values occur in the real features
    basic = pd.DataFrame({"video_id": np.arange(29)})  # video 29 has no feature row
    for c in kuairand.BASIC_COLUMNS[1:]:
        basic[c] = rng.integers(100, 900, 29) if c in kuairand.BASIC_NUMERIC else rng.choice(["NORMAL", "AD", "12,65"], 29)
    stats = pd.DataFrame({"video_id": np.arange(30), **{c: rng.random(30) for c in kuairand.STATISTIC_COLUMNS[1:]}})
    return {**logs, "user_features_pure.csv": users, "video_features_basic_pure.csv": basic,
            "video_features_statistic_pure.csv": stats}


def write_kuairand(raw: Path, files: dict[str, pd.DataFrame] | None = None) -> Path:
    """``KuaiRand-Pure.tar.gz`` holding ``KuaiRand-Pure/data/<file>``."""
    raw.mkdir(parents=True, exist_ok=True)
    with tarfile.open(raw / "KuaiRand-Pure.tar.gz", "w:gz") as tar:
        for name, frame in (files or kuairand_files()).items():
            data = frame.to_csv(index=False).encode()
            info = tarfile.TarInfo(f"KuaiRand-Pure/data/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw


def ml100k_members(n_users: int = 30, n_items: int = 40, n_ratings: int = 1500, seed: int = 0) -> dict[str, bytes]:
    """u.user, u.item (latin-1) and u.data in the ML-100K formats; ratings depend on the item."""
    rng = np.random.default_rng(seed)
    users = "".join(f"{u}|{rng.integers(10, 70)}|{rng.choice(['M', 'F'])}|{rng.choice(['writer', 'other'])}|{rng.integers(10000, 99999)}\n"
                    for u in range(1, n_users + 1))
    items = "".join(f"{i}|Film {i} é (199{i % 10})|01-Jan-199{i % 10}||http://x|" + "|".join(str(int(rng.random() < 0.2)) for _ in range(19)) + "\n"
                    for i in range(1, n_items + 1))
    ratings = []
    for k in range(n_ratings):
        item = int(rng.integers(1, n_items + 1))
        user = int(rng.integers(1, n_users + 1)) if k < n_ratings - 50 else n_users + 1  # a test-only user
        rating = int(np.clip(round(1 + item / 10 + rng.normal(0, 0.7)), 1, 5))
        ratings.append(f"{user}\t{item}\t{rating}\t{880_000_000 + k * 1000}\n")
    users += f"{n_users + 1}|33|F|artist|12345\n"
    return {"ml-100k/u.user": users.encode(), "ml-100k/u.item": items.encode("latin-1"), "ml-100k/u.data": "".join(ratings).encode()}


def ml1m_members(seed: int = 0) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    users = "".join(f"{u}::{rng.choice(['M', 'F'])}::{rng.choice([1, 18, 25, 56])}::{rng.integers(0, 21)}::{rng.integers(10000, 99999)}\n"
                    for u in range(1, 21))
    genres = ["Action", "Comedy|Drama", "Children's|Film-Noir"]
    items = "".join(f"{i}::Movie {i}: Part {i} (19{50 + i})::{rng.choice(genres)}\n" for i in range(1, 31))
    day = 86400
    start = 975_000_000  # 2000-11-23
    ratings = "".join(f"{rng.integers(1, 21)}::{i}::{int(np.clip(i // 6 + 1, 1, 5))}::{start + int(rng.integers(0, 20 * day))}\n"
                      for i in rng.integers(1, 31, 800))
    return {"ml-1m/users.dat": users.encode(), "ml-1m/movies.dat": items.encode("latin-1"), "ml-1m/ratings.dat": ratings.encode()}


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_members(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def prepared(name: str, raw: Path, out: Path, options: dict | None = None) -> tuple[dict, dict]:
    get_dataset(name, {"prepare": options or {}}).prepare(raw, out)
    return load_schema(out), {s: load_split(out, s, mmap=False) for s in SPLITS}


def feature_names(schema: dict) -> set[str]:
    return {f["name"] for f in schema["categorical"]} | set(schema["dense"])


def check_processed(schema: dict, splits: dict, group_key: str) -> None:
    """What every dataset of this family guarantees."""
    assert schema["group_key"] == group_key
    for s in SPLITS:
        arrays = splits[s]
        assert len(arrays["labels"]) > 0 and arrays["group"].shape == (len(arrays["labels"]),)
        labels = arrays["labels"]
        assert np.isin(labels, (0, 1)).all()
        assert (np.diff(labels, axis=1) <= 0).all(), "a later task's positives must be a subset of the earlier's"


# --------------------------------------------------------------------------- AliExpress
def test_aliexpress_end_to_end_groups_and_train_only_vocabulary(tmp_path):
    raw = write_ae(tmp_path / "raw")
    schema, splits = prepared("aliexpress_nl", raw, tmp_path / "out")
    check_processed(schema, splits, "search_id")
    assert [t["name"] for t in schema["tasks"]] == ["click", "ctcvr"]
    # validation is carved from train by whole search_id groups; test is the test file
    train_groups, val_groups = set(splits["train"]["group"]), set(splits["val"]["group"])
    assert not train_groups & val_groups and train_groups | val_groups == set(range(40))
    assert set(splits["test"]["group"]) == set(range(10_000, 10_020))
    assert schema["rows"] == {"train": len(splits["train"]["labels"]), "val": len(splits["val"]["labels"]), "test": 100}
    # ctcvr = click AND conversion, over all impressions
    test = pd.read_csv(raw / "test.csv")
    np.testing.assert_array_equal(splits["test"]["labels"][:, 1], test["click"] * test["conversion"])
    # categorical_2 == 99 occurs only in test: unknown id 0; vocab = train values + 1
    col = [f["name"] for f in schema["categorical"]].index("categorical_2")
    assert splits["test"]["categorical"][0, col] == 0 and schema["categorical"][col]["vocab_size"] == 5
    assert schema["dense"] == aliexpress.NUMERICAL
    assert abs(splits["train"]["dense"].mean(axis=0)).max() < 1e-4  # standardised with train statistics


def test_aliexpress_bucketised_numericals_use_train_quantiles(tmp_path):
    raw = write_ae(tmp_path / "raw")
    schema, splits = prepared("aliexpress_es", raw, tmp_path / "out", {"numerical": "bucketize", "n_buckets": 4})
    assert schema["dense"] == [] and "dense" not in splits["train"]
    buckets = splits["train"]["categorical"][:, 16:]
    assert buckets.shape[1] == 63 and buckets.min() >= 1 and buckets.max() <= 4
    counts = np.bincount(buckets[:, 0])[1:]
    assert counts.min() > 0.2 * len(buckets)  # quartiles of train


def test_aliexpress_login_walled_source_says_which_files_go_where(tmp_path, monkeypatch):
    monkeypatch.delenv("RESFLOW_DATA_MIRROR", raising=False)
    status = fetch_dataset(get_dataset("aliexpress_fr"), tmp_path / "resources/raw/aliexpress_fr", strict=False)
    assert not status["available"] and [m["file"] for m in status["missing"]] == ["train.csv", "test.csv"]
    fix = status["missing"][0]["fix"]
    assert "manual download" in status["missing"][0]["reason"]
    assert str(tmp_path / "resources/raw/aliexpress_fr/train.csv") in fix
    assert "AliExpress_FR" in fix and "tianchi.aliyun.com/dataset/74690" in fix and "RESFLOW_DATA_MIRROR" in fix


def test_aliexpress_sample_sources_are_pinned():
    sources = get_dataset("aliexpress_sample").sources()
    assert [s.sha256[:8] for s in sources] == ["6e7737d0", "b33ee1ab"]
    assert all(s.mirror_paths[0].startswith("aliexpress/fuxictr-tiny_mtl/") and s.urls for s in sources)


# --------------------------------------------------------------------------- Ali-CCP
def test_ali_ccp_drops_click0_purchase1_counts_them_and_splits_ten_percent(tmp_path):
    raw = write_aitm(tmp_path / "raw")
    schema, splits = prepared("ali_ccp", raw, tmp_path / "out")
    check_processed(schema, splits, "101")
    expected = {f: sum(ln.startswith("0,1,") for ln in (raw / f"ctr_cvr.{f}").read_text().splitlines()) for f in ("train", "test")}
    assert min(expected.values()) > 0
    assert schema["dropped"] == {ali_ccp.DROP_REASON.format(f): n for f, n in expected.items()}
    kept = 120 - expected["train"]
    assert schema["rows"]["val"] == round(0.1 * kept) and schema["rows"]["train"] == kept - round(0.1 * kept)
    assert schema["rows"]["test"] == 60 - expected["test"]  # the header-less test file is read in full
    assert [(t.name, t.pos_weight, t.loss_weight) for t in get_dataset("ali_ccp").tasks] == [("click", 100, 2), ("ctcvr", 500, 1)]


def test_ali_ccp_header_is_optional_and_both_forms_agree(tmp_path):
    _, without = prepared("ali_ccp", write_aitm(tmp_path / "a"), tmp_path / "out_a")
    _, with_header = prepared("ali_ccp", write_aitm(tmp_path / "b", test_header=True), tmp_path / "out_b")
    for key in ("labels", "categorical", "group"):
        np.testing.assert_array_equal(without["test"][key], with_header["test"][key])


# --------------------------------------------------------------------------- KuaiRand-Pure
def test_kuairand_end_to_end_rows_tasks_dates_and_counts(tmp_path):
    files = kuairand_files()
    raw = write_kuairand(tmp_path / "raw", files)
    schema, splits = prepared("kuairand_pure", raw, tmp_path / "out")
    check_processed(schema, splits, "user_id")
    logs = pd.concat([files[f] for f in kuairand.LOGS])
    kept = logs[(logs.tab == 1) & (logs.play_time_ms > 0)]
    assert schema["dropped"] == {"tab != 1": int((logs.tab != 1).sum()),
                                 "tab == 1 and play_time_ms <= 0": int(((logs.tab == 1) & (logs.play_time_ms <= 0)).sum())}
    assert sum(schema["rows"].values()) == len(kept)
    assert schema["rows"]["test"] == int((kept.date >= 20220502).sum())
    assert schema["rows"]["val"] == int(((kept.date >= 20220429) & (kept.date < 20220502)).sum())
    assert [t["name"] for t in schema["tasks"]] == [f"play_gt{t}s" for t in kuairand.THRESHOLDS]
    labels = np.concatenate([splits[s]["labels"] for s in SPLITS])
    assert labels.sum(axis=0)[0] == int(((kept.play_time_ms // 1000) > 5).sum())
    assert schema["unmatched"] == {"user_features": 0, "video_features": int((kept.video_id == 29).sum())}
    assert [t.pos_weight for t in get_dataset("kuairand_pure").tasks] == [0.9, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3]


def test_kuairand_video_statistics_are_opt_in(tmp_path):
    raw = write_kuairand(tmp_path / "raw")
    schema, _ = prepared("kuairand_pure", raw, tmp_path / "out", {"video_statistics": True, "n_buckets": 5})
    names = feature_names(schema)
    assert {"show_cnt", "video_follow_user_num", "follow_user_num"} <= names
    assert "show_cnt" not in feature_names(prepared("kuairand_pure", raw, tmp_path / "out2")[0])


# --------------------------------------------------------------------------- leakage (every dataset here)
LEAKY = {
    "aliexpress_nl": {"click", "conversion", "search_id"},
    "ali_ccp": {"click", "purchase"},
    "kuairand_pure": {*kuairand.POST_INTERACTION, "time_ms", "date", "tab", "duration_ms"},
    "movielens_100k": {"rating", "ts", "timestamp"},
}


@pytest.mark.parametrize("name", sorted(LEAKY))
def test_no_label_or_post_interaction_column_is_a_feature(tmp_path, name):
    raw = {
        "aliexpress_nl": lambda p: write_ae(p),
        "ali_ccp": lambda p: write_aitm(p),
        "kuairand_pure": lambda p: write_kuairand(p),
        "movielens_100k": lambda p: write_zip(p / "ml-100k.zip", ml100k_members()).parent,
    }[name](tmp_path / "raw")
    schema, splits = prepared(name, raw, tmp_path / "out", {"video_statistics": True} if name == "kuairand_pure" else None)
    names = feature_names(schema)
    assert names and not names & LEAKY[name]
    assert not any(n.startswith(("is_click", "play_time", "rating")) for n in names)
    width = splits["train"]["categorical"].shape[1] + splits["train"].get("dense", np.empty((0, 0))).shape[1]
    assert width == len(names)


# --------------------------------------------------------------------------- MovieLens
def test_movielens_100k_time_split_features_and_unknown_test_user(tmp_path):
    members = ml100k_members()
    raw = write_zip(tmp_path / "raw" / "ml-100k.zip", members).parent
    schema, splits = prepared("movielens_100k", raw, tmp_path / "out")
    check_processed(schema, splits, "user_id")
    assert [t["name"] for t in schema["tasks"]] == ["rating_gt1", "rating_gt2", "rating_gt3", "rating_gt4"]
    assert schema["rows"] == {"train": 1215, "val": 135, "test": 150}  # newest 10% test, then newest 10% of the rest
    assert schema["split"] == {"val_from": movielens.utc(880_000_000 + 1215 * 1000),
                               "test_from": movielens.utc(880_000_000 + 1350 * 1000)}
    assert {f["name"] for f in schema["categorical"]} == set(movielens.CATEGORICAL)
    assert len(schema["dense"]) == 19 and schema["dense"][0] == "genre_unknown"
    # user 31 rates only in the test period: unknown id, but still its own group
    user_col = [f["name"] for f in schema["categorical"]].index("user_id")
    last = splits["test"]["group"] == 31
    assert last.sum() == 50 and (splits["test"]["categorical"][last, user_col] == 0).all()
    assert schema["categorical"][user_col]["vocab_size"] == len(set(splits["train"]["group"])) + 1


def test_movielens_1m_date_rule(tmp_path):
    members = ml1m_members()
    raw = write_zip(tmp_path / "raw" / "ml-1m.zip", members).parent
    schema, splits = prepared("movielens_1m", raw, tmp_path / "out")
    check_processed(schema, splits, "user_id")
    ts = np.array([int(ln.split("::")[3]) for ln in members["ml-1m/ratings.dat"].decode().splitlines()])
    assert schema["split"]["test_from"] == "2000-12-03T00:00:00+00:00"
    assert schema["rows"]["test"] == int((ts >= 975_801_600).sum()) > 0
    assert len(schema["dense"]) == 18


def test_movielens_archive_and_extracted_members_give_the_same_data(tmp_path):
    members = ml100k_members()
    from_zip = write_zip(tmp_path / "zip" / "ml-100k.zip", members).parent
    extracted = write_members(tmp_path / "members", members)
    _, a = prepared("movielens_100k", from_zip, tmp_path / "out_a")
    _, b = prepared("movielens_100k", extracted, tmp_path / "out_b")
    for s in SPLITS:
        for key in a[s]:
            np.testing.assert_array_equal(a[s][key], b[s][key])


def test_mirror_with_extracted_members_is_verified_and_recorded(tmp_path, monkeypatch):
    members = ml100k_members()
    mirror = write_members(tmp_path / "mirror" / "movielens", members).parent
    dataset = get_dataset("movielens_100k")
    source = dataset.sources()[0]
    # the fixture is not the official data: pin its members' checksums instead
    pinned = type(source)(**{**source.__dict__, "members": tuple(
        type(m)(m.filename, sha256=hashlib.sha256(members[m.filename]).hexdigest()) for m in source.members)})
    monkeypatch.setattr(type(dataset), "sources", lambda self: [pinned])
    monkeypatch.setenv("RESFLOW_DATA_MIRROR", str(mirror))
    assert local_availability(dataset, tmp_path / "raw") == {"ml-100k.zip": True}
    status = fetch_dataset(dataset, tmp_path / "raw" / "movielens_100k", strict=True)
    entry = status["files"]["ml-100k.zip"]
    assert entry["sha256"] is None and "extracted members" in entry["origin"]
    assert entry["members"]["ml-100k/u.data"] == hashlib.sha256(members["ml-100k/u.data"]).hexdigest()
    schema, _ = prepared("movielens_100k", tmp_path / "raw" / "movielens_100k", tmp_path / "out")
    assert schema["sources"]["ml-100k.zip"] == entry["members"]


def test_tampered_extracted_member_fails_and_leaves_nothing(tmp_path):
    members = ml100k_members()
    mirror = write_members(tmp_path / "mirror" / "movielens", members).parent
    source = get_dataset("movielens_100k").sources()[0]  # real checksums: the fixture cannot match
    with pytest.raises(ChecksumMismatch, match=r"u\.data"):
        fetch_source(source, "movielens_100k", tmp_path / "raw", mirror)
    assert not [p for p in (tmp_path / "raw").rglob("*") if p.is_file()]


def test_truncated_archive_names_the_archive_and_writes_nothing(tmp_path):
    archive = write_zip(tmp_path / "raw" / "ml-100k.zip", ml100k_members())
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(RawFormatError, match=r"ml-100k\.zip: cannot read member .*truncated or corrupt"):
        prepared("movielens_100k", archive.parent, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    tar = write_kuairand(tmp_path / "kr") / "KuaiRand-Pure.tar.gz"
    tar.write_bytes(tar.read_bytes()[: len(tar.read_bytes()) // 2])
    with pytest.raises(RawFormatError, match=r"KuaiRand-Pure\.tar\.gz: cannot read member"):
        prepared("kuairand_pure", tar.parent, tmp_path / "out")


# --------------------------------------------------------------------------- bad input
def _ae_edit(edit):
    """Write a valid AE fixture, then apply ``edit(text) -> text`` to its train.csv."""
    def make(raw: Path) -> Path:
        write_ae(raw)
        (raw / "train.csv").write_text(edit((raw / "train.csv").read_text()))
        return raw
    return make


def _replace_field(line_no: int, column: str, value: str):
    def edit(text: str) -> str:
        lines = text.splitlines()
        fields = lines[line_no - 1].split(",")
        fields[aliexpress.COLUMNS.index(column)] = value
        lines[line_no - 1] = ",".join(fields)
        return "\n".join(lines) + "\n"
    return edit


BAD_AE = {
    "missing column": (_ae_edit(lambda t: "\n".join(",".join(ln.split(",")[:-1]) for ln in t.splitlines())),
                       r"train\.csv:1: header: missing column\(s\) \['conversion'\]"),
    "extra column": (_ae_edit(lambda t: "\n".join(ln + ",0" if i else ln + ",extra" for i, ln in enumerate(t.splitlines()))),
                     r"train\.csv:1: header: .*unexpected column\(s\) \['extra'\]"),
    "wrong delimiter": (_ae_edit(lambda t: t.replace(",", ";")), r"train\.csv:1: the header is one field .*delimiter ','"),
    "label outside 0/1": (_ae_edit(_replace_field(7, "click", "2")), r"train\.csv:7: column 'click': label 2 not in \[0, 1\]"),
    "NaN": (_ae_edit(_replace_field(5, "numerical_3", "nan")), r"train\.csv:5: column 'numerical_3': value 'nan' is not finite"),
    "inf": (_ae_edit(_replace_field(9, "numerical_63", "inf")), r"train\.csv:9: column 'numerical_63': value 'inf' is not finite"),
    "empty value": (_ae_edit(_replace_field(4, "categorical_5", "")), r"train\.csv:4: column 'categorical_5': empty value"),
    "short row": (_ae_edit(lambda t: "\n".join([*t.splitlines()[:2], "1,2,3", *t.splitlines()[2:]])), r"train\.csv:3: expected 82 fields, found 3"),
    "empty file": (_ae_edit(lambda t: ""), r"train\.csv: the file is empty"),
    "header only": (_ae_edit(lambda t: t.splitlines()[0] + "\n"), r"train\.csv: no data rows"),
}


@pytest.mark.parametrize("case", sorted(BAD_AE))
def test_bad_aliexpress_input_names_file_line_column_and_writes_nothing(tmp_path, case):
    make, message = BAD_AE[case]
    with pytest.raises(RawFormatError, match=message):
        prepared("aliexpress_us", make(tmp_path / "raw"), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))


BAD_OTHER = {
    "ali_ccp purchase outside 0/1": (
        "ali_ccp", lambda raw: (write_aitm(raw), (raw / "ctr_cvr.test").write_text("0,3," + ",".join(["1"] * 18) + "\n")),
        r"ctr_cvr\.test:1: column 'purchase': label 3 not in \[0, 1\]"),
    "ali_ccp wrong delimiter": (
        "ali_ccp", lambda raw: (write_aitm(raw), (raw / "ctr_cvr.test").write_text("0\t0\t" + "\t".join(["1"] * 18) + "\n")),
        r"ctr_cvr\.test:1: expected 20 fields, found 1 \(is the delimiter ','\?\)"),
    "kuairand missing log column": (
        "kuairand_pure", lambda raw: write_kuairand(raw, {**kuairand_files(), kuairand.LOGS[1]: kuairand_files()[kuairand.LOGS[1]].drop(columns="is_rand")}),
        r"log_standard_4_08_to_4_21_pure\.csv:1: header: missing column\(s\) \['is_rand'\]"),
    "kuairand empty play time": (
        "kuairand_pure", lambda raw: write_kuairand(raw, {**kuairand_files(), kuairand.LOGS[0]: kuairand_files()[kuairand.LOGS[0]].astype({"play_time_ms": "Int64"}).assign(play_time_ms=lambda f: f.play_time_ms.where(f.index != 4))}),
        r"log_random_4_22_to_5_08_pure\.csv:6: column 'play_time_ms': empty value"),
    "movielens rating 6": (
        "movielens_100k", lambda raw: write_zip(raw / "ml-100k.zip", {**ml100k_members(), "ml-100k/u.data": b"1\t1\t3\t880000000\n1\t2\t6\t880000001\n"}),
        r"u\.data:2: column 'rating': label 6 not in \[1, 2, 3, 4, 5\]"),
    "movielens unknown item": (
        "movielens_100k", lambda raw: write_zip(raw / "ml-100k.zip", {**ml100k_members(), "ml-100k/u.data": b"1\t1\t3\t880000000\n1\t999\t4\t880000001\n"}),
        r"u\.data:2: column 'item': id 999 has no entry in the item file"),
    "movielens wrong delimiter": (
        "movielens_100k", lambda raw: write_zip(raw / "ml-100k.zip", {**ml100k_members(), "ml-100k/u.data": b"1,1,3,880000000\n"}),
        r"u\.data:1: expected 4 fields, found 1 \(is the delimiter '\\t'\?\)"),
}


@pytest.mark.parametrize("case", sorted(BAD_OTHER))
def test_bad_input_of_other_datasets_is_named_and_writes_nothing(tmp_path, case):
    name, make, message = BAD_OTHER[case]
    (tmp_path / "raw").mkdir()
    make(tmp_path / "raw")
    with pytest.raises(RawFormatError, match=message):
        prepared(name, tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_checksum_mismatch_of_a_pinned_sample_names_the_file(tmp_path):
    mirror = tmp_path / "mirror" / "aliexpress" / "fuxictr-tiny_mtl"
    write_ae(mirror)
    source = get_dataset("aliexpress_sample").sources()[0]
    with pytest.raises(ChecksumMismatch, match=r"train\.csv\.part: size \d+ B, expected 478064 B for train\.csv"):
        fetch_source(source, "aliexpress_sample", tmp_path / "raw", tmp_path / "mirror")
    assert not (tmp_path / "raw" / "train.csv").exists()


def test_processed_schema_records_sources(tmp_path):
    raw = write_aitm(tmp_path / "raw")
    schema, _ = prepared("ali_ccp", raw, tmp_path / "out")
    assert schema["sources"]["ctr_cvr.train"] == hashlib.sha256((raw / "ctr_cvr.train").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "out" / "schema.json").read_text())["options"]["val_fraction"] == 0.1
