"""MovieLens-1M and -100K (GroupLens): four cascaded rating tasks, user and item features, split by time.

Dataset: F. M. Harper and J. A. Konstan, *The MovieLens Datasets: History and Context*, ACM TiiS
2015; official archives from files.grouplens.org (published size and md5). A mirror may hold the
archive's extracted members (e.g. ``movielens/ml-100k/u.data``) instead of the archive
(``benchmarks.fetch``); members with a known sha256 are verified.

Tasks, in this order (this suite's choice; the paper's thresholds are unknown): ``rating_gt1`` ..
``rating_gt4`` = rating > 1, > 2, > 3, > 4, so each task's positives are a subset of the previous
task's.

Features: categorical ``user_id``, ``item_id``, ``gender``, ``age`` (ML-1M's age groups; ML-100K's ages
are mapped onto them), ``occupation``, ``zip_prefix`` (first ``zip_prefix`` characters), ``year``
(release year); dense: one 0/1 column per genre. The rating and its timestamp are never features.
``user_id`` is the group key (GAUC).

Split by time (UTC). ML-1M follows the ResFlow reference (``dataset/movieLen-1M/ml_1m_remap.py``):
ratings dated after ``test_after`` = 2000-12-02 are test. ML-100K (this suite's choice): the newest
``test_fraction`` = 10% of ratings by timestamp are test. In both, the newest ``val_fraction`` = 10%
of the remaining train-period ratings are validation, so validation lies between training and test
in time. Ratings that share a timestamp never straddle a boundary; schema.json records the
boundaries under ``split``. Vocabularies are fitted on the train split only, so users who first
rate after the train period map to the unknown id.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .base import Benchmark, RawFormatError, Source, TaskSpec, register_dataset
from .fetch import read_member
from .tabular import check_binary, decode_lines, encode_categorical, parse_int, split_fields

GROUPLENS = "https://files.grouplens.org/datasets/movielens"
GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
          "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
#: ML-1M age groups, each coded by its lower bound (README of ml-1m)
AGE_GROUPS = np.array([1, 18, 25, 35, 45, 50, 56])
CATEGORICAL = ["user_id", "item_id", "gender", "age", "occupation", "zip_prefix", "year"]
THRESHOLDS = (1, 2, 3, 4)


@dataclass
class MovieLensOptions:
    #: ratings dated (UTC) after this day (YYYY-MM-DD) are test; null: the newest test_fraction
    test_after: str | None = None
    #: share of the newest ratings that are test when test_after is null
    test_fraction: float = 0.1
    #: share of the newest train-period ratings held out as validation
    val_fraction: float = 0.1
    #: leading characters of the zip code kept as a feature
    zip_prefix: int = 3
    #: categorical values seen fewer times in train map to the unknown id
    min_count: int = 1


@dataclass
class MovieLens1MOptions(MovieLensOptions):
    test_after: str | None = "2000-12-02"


@dataclass
class Tables:
    """One MovieLens release, normalised: ratings and the user and item attributes they refer to."""

    ratings: pd.DataFrame  # user, item, rating, ts (int64)
    users: pd.DataFrame  # index user id; gender, age (group code), occupation, zip (str)
    items: pd.DataFrame  # index item id; year (str) and one 0/1 column per genre
    genres: list[str]


class MovieLens(Benchmark):
    """Shared preparation; subclasses declare their archive and parse it into ``Tables``."""

    tasks = tuple(TaskSpec(f"rating_gt{t}") for t in THRESHOLDS)

    def read(self, raw_dir: Path) -> Tables:
        raise NotImplementedError

    def member(self, raw_dir: Path, name: str, sep: str, n_fields: int, encoding: str = "utf-8") -> tuple[np.ndarray, Path]:
        """The fields of archive member ``name`` and the path that names it in errors."""
        raw, where = read_member(raw_dir, self.sources()[0], name)
        return split_fields(where, decode_lines(raw, where, encoding), sep, n_fields), where

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        for key in ("test_fraction", "val_fraction"):
            if not 0 < getattr(opt, key) < 1:
                raise ValueError(f"dataset_options.{self.name}.prepare.{key} must lie in (0, 1), got {getattr(opt, key)}")
        t = self.read(raw_dir)
        ts = t.ratings["ts"].to_numpy()
        if opt.test_after is not None:
            day = date.fromisoformat(opt.test_after) + timedelta(days=1)
            test_from = int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        else:
            test_from = newest_from(ts, opt.test_fraction)
        if not (ts < test_from).any() or not (ts >= test_from).any():
            raise ValueError(f"{self.name}: the test boundary {utc(test_from)} leaves train or test empty")
        val_from = newest_from(ts[ts < test_from], opt.val_fraction)
        part = np.where(ts >= test_from, 2, np.where(ts >= val_from, 1, 0))
        users = t.users.loc[t.ratings["user"]]
        items = t.items.loc[t.ratings["item"]]
        values = {
            "user_id": t.ratings["user"].to_numpy(), "item_id": t.ratings["item"].to_numpy(),
            "gender": users["gender"].to_numpy(), "age": users["age"].to_numpy(),
            "occupation": users["occupation"].to_numpy(),
            "zip_prefix": users["zip"].str[: opt.zip_prefix].to_numpy(), "year": items["year"].to_numpy(),
        }
        names = ("train", "val", "test")
        categorical, features = encode_categorical(
            {c: {s: values[c][part == i] for i, s in enumerate(names)} for c in CATEGORICAL}, opt.min_count)
        rating = t.ratings["rating"].to_numpy()
        labels = np.stack([rating > k for k in THRESHOLDS], axis=1).astype(np.float32)
        dense = items[t.genres].to_numpy(np.float32)
        splits = {
            s: {"labels": labels[part == i], "categorical": categorical[s], "dense": dense[part == i],
                "group": values["user_id"][part == i].astype(np.int64)}
            for i, s in enumerate(names)
        }
        self.write(raw_dir, out_dir, splits, {
            "input": "tabular", "categorical": features, "dense": [f"genre_{g}" for g in t.genres],
            "group_key": "user_id", "split": {"val_from": utc(val_from), "test_from": utc(test_from)},
        })


def newest_from(ts: np.ndarray, fraction: float) -> int:
    """The timestamp from which on (inclusive) the newest ``fraction`` of ``ts`` lies."""
    ordered = np.sort(ts)
    return int(ordered[min(int(np.ceil((1 - fraction) * len(ordered))), len(ordered) - 1)])


def utc(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def ratings_table(fields: np.ndarray, where: Path, users: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """user, item, rating, timestamp columns, checked: integer fields, ratings 1..5, known ids."""
    cols = ["user", "item", "rating", "ts"]
    table = pd.DataFrame({c: parse_int(where, c, fields[:, i]) for i, c in enumerate(cols)})
    check_binary(where, "rating", table["rating"].to_numpy(), allowed=(1, 2, 3, 4, 5))
    for c, known in (("user", users.index), ("item", items.index)):
        unknown = ~table[c].isin(known).to_numpy()
        if unknown.any():
            i = int(np.argmax(unknown))
            raise RawFormatError(f"{where}:{i + 1}: column {c!r}: id {table[c].iloc[i]} has no entry in the {c} file")
    return table


def unique_index(frame: pd.DataFrame, where: Path, column: str) -> pd.DataFrame:
    duplicated = frame.index.duplicated()
    if duplicated.any():
        i = int(np.argmax(duplicated))
        raise RawFormatError(f"{where}:{i + 1}: column {column!r}: id {frame.index[i]} appears twice")
    return frame


@register_dataset
class MovieLens100K(MovieLens):
    name = "movielens_100k"
    Options = MovieLensOptions
    description = "MovieLens-100K, ratings > 1..4, split by time"

    def sources(self) -> list[Source]:
        members = (
            Source("ml-100k/u.data", size=1_979_173, sha256="06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
            Source("ml-100k/u.user", size=22_628, sha256="f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
            Source("ml-100k/u.item", size=236_344, sha256="553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
        )
        return [Source("ml-100k.zip", urls=(f"{GROUPLENS}/ml-100k.zip",), size=4_924_029,
                       md5="0e33842e24a9c977be4e0107933c0723", mirror_paths=("movielens/ml-100k.zip",), members=members)]

    def read(self, raw_dir: Path) -> Tables:
        genres = ["unknown", *GENRES]
        f, where = self.member(raw_dir, "ml-100k/u.user", "|", 5)
        age = parse_int(where, "age", f[:, 1])
        users = unique_index(pd.DataFrame({
            "gender": f[:, 2], "age": AGE_GROUPS[np.maximum(np.searchsorted(AGE_GROUPS, age, side="right") - 1, 0)].astype(str),
            "occupation": f[:, 3], "zip": f[:, 4],
        }, index=parse_int(where, "user_id", f[:, 0])), where, "user_id")
        f, where = self.member(raw_dir, "ml-100k/u.item", "|", 5 + len(genres), encoding="latin-1")
        flags = {g: check_binary(where, g, parse_int(where, g, f[:, 5 + i])) for i, g in enumerate(genres)}
        items = unique_index(pd.DataFrame({"year": [d[-4:] for d in f[:, 2]], **flags},
                                          index=parse_int(where, "item_id", f[:, 0])), where, "item_id")
        f, where = self.member(raw_dir, "ml-100k/u.data", "\t", 4)
        return Tables(ratings_table(f, where, users, items), users, items, genres)


@register_dataset
class MovieLens1M(MovieLens):
    name = "movielens_1m"
    Options = MovieLens1MOptions
    description = "MovieLens-1M, ratings > 1..4, test = ratings after 2000-12-02"

    def sources(self) -> list[Source]:
        members = tuple(Source(f"ml-1m/{f}") for f in ("ratings.dat", "users.dat", "movies.dat"))
        return [Source("ml-1m.zip", urls=(f"{GROUPLENS}/ml-1m.zip",), size=5_917_549,
                       md5="c4d9eecfca2ab87c1945afe126590906", mirror_paths=("movielens/ml-1m.zip",), members=members)]

    def read(self, raw_dir: Path) -> Tables:
        f, where = self.member(raw_dir, "ml-1m/users.dat", "::", 5)
        age = parse_int(where, "age", f[:, 2])
        check_binary(where, "age", age, allowed=tuple(AGE_GROUPS))
        users = unique_index(pd.DataFrame({"gender": f[:, 1], "age": age.astype(str), "occupation": f[:, 3], "zip": f[:, 4]},
                                          index=parse_int(where, "user_id", f[:, 0])), where, "user_id")
        f, where = self.member(raw_dir, "ml-1m/movies.dat", "::", 3, encoding="latin-1")
        flags = np.zeros((len(f), len(GENRES)), dtype=np.int64)
        for i, genres in enumerate(f[:, 2]):
            for g in genres.split("|"):
                if g not in GENRES:
                    raise RawFormatError(f"{where}:{i + 1}: column 'genres': unknown genre {g!r}")
                flags[i, GENRES.index(g)] = 1
        years = [m.group(1) if (m := re.search(r"\((\d{4})\)\s*$", title)) else "" for title in f[:, 1]]
        items = unique_index(pd.DataFrame({"year": years, **dict(zip(GENRES, flags.T))},
                                          index=parse_int(where, "item_id", f[:, 0])), where, "item_id")
        f, where = self.member(raw_dir, "ml-1m/ratings.dat", "::", 4)
        return Tables(ratings_table(f, where, users, items), users, items, GENRES)
