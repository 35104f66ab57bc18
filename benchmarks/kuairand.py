"""KuaiRand-Pure (Kuaishou short-video logs): nine cascaded play-time tasks, split by date.

Dataset: C. Gao et al., *KuaiRand: An Unbiased Sequential Recommendation Dataset with Randomly
Exposed Videos*, CIKM 2022; ``KuaiRand-Pure.tar.gz`` from Zenodo record 10439422 (CC BY-SA 4.0,
published md5). File and column names follow the field tables of chongminggao/KuaiRand's README;
no real file was available offline, so the member paths (``KuaiRand-Pure/data/<file>``; any single
top-level folder is accepted) and the columns are that README's, not checked against the archive.

Rows (ResFlow reference, ``dataset/kuairand_pure/get_training_csv_pure.py``): every interaction of
the three logs with ``tab == 1`` and ``play_time_ms > 0``; the others are dropped and counted in
schema.json. Tasks in cascade order: ``play_gt{t}s`` = floor(play_time_ms / 1000) > t for
t = 5, 10, 20, ..., 80 (the reference's labels); default pos_weight 0.9 + 0.05 i for task i, loss
weights 1 (reference ``other-modality/resflow_logits.py``).

Features: IDs and context of the impression (user, video, hour, is_rand), the user features, and the
video's basic features; counts and sizes are bucketised at train quantiles (the reference
bucketises at percentiles). Post-interaction signals (``POST_INTERACTION``: clicks, likes, play
time, profile and comment stay time, ...) are never features, although the reference code fed the
two stay times to its model. The per-video statistics file averages over the whole month,
including the test days, so it is off by default (``video_statistics``).

Split by date (this suite's choice; the reference's is not published): train 2022-04-08..04-28,
validation 04-29..05-01, test 05-02..05-08. ``user_id`` is the group key (GAUC). Log rows whose user
or video has no feature row keep unknown features and are counted under ``unmatched``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .base import Benchmark, Source, TaskSpec, register_dataset
from .fetch import read_member
from .tabular import check_binary, encode_categorical, quantile_buckets, read_csv_strict

THRESHOLDS = (5, 10, 20, 30, 40, 50, 60, 70, 80)
DATA = "KuaiRand-Pure/data"
LOGS = ["log_random_4_22_to_5_08_pure.csv", "log_standard_4_08_to_4_21_pure.csv", "log_standard_4_22_to_5_08_pure.csv"]
LOG_COLUMNS = ["user_id", "video_id", "date", "hourmin", "time_ms", "is_click", "is_like", "is_follow", "is_comment",
               "is_forward", "is_hate", "long_view", "play_time_ms", "duration_ms", "profile_stay_time",
               "comment_stay_time", "is_profile_enter", "is_rand", "tab"]
#: observed only after (or during) the impression: never features
POST_INTERACTION = ["is_click", "is_like", "is_follow", "is_comment", "is_forward", "is_hate", "long_view",
                    "play_time_ms", "profile_stay_time", "comment_stay_time", "is_profile_enter"]
LOG_STRICT = ["user_id", "video_id", "date", "hourmin", "play_time_ms", "is_rand", "tab"]
USER_COLUMNS = ["user_id", "user_active_degree", "is_lowactive_period", "is_live_streamer", "is_video_author",
                "follow_user_num", "follow_user_num_range", "fans_user_num", "fans_user_num_range", "friend_user_num",
                "friend_user_num_range", "register_days", "register_days_range", *(f"onehot_feat{i}" for i in range(18))]
USER_NUMERIC = ["follow_user_num", "fans_user_num", "friend_user_num", "register_days"]
BASIC_COLUMNS = ["video_id", "author_id", "video_type", "upload_dt", "upload_type", "visible_status", "video_duration",
                 "server_width", "server_height", "music_id", "music_type", "tag"]
BASIC_CATEGORICAL = ["author_id", "video_type", "upload_type", "music_id", "music_type", "tag"]
BASIC_NUMERIC = ["video_duration", "server_width", "server_height"]
STATISTIC_COLUMNS = ["video_id", "counts", *(f"{s}_{k}" for s in (
    "show", "play") for k in ("cnt", "user_num")), "play_duration", "complete_play_cnt", "complete_play_user_num",
    "valid_play_cnt", "valid_play_user_num", "long_time_play_cnt", "long_time_play_user_num", "short_time_play_cnt",
    "short_time_play_user_num", "play_progress", "comment_stay_duration", "like_cnt", "like_user_num",
    "click_like_cnt", "double_click_cnt", "cancel_like_cnt", "cancel_like_user_num", "comment_cnt",
    "comment_user_num", "direct_comment_cnt", "reply_comment_cnt", "delete_comment_cnt", "delete_comment_user_num",
    "comment_like_cnt", "comment_like_user_num", "follow_cnt", "follow_user_num", "cancel_follow_cnt",
    "cancel_follow_user_num", "share_cnt", "share_user_num", "download_cnt", "download_user_num", "report_cnt",
    "report_user_num", "reduce_similar_cnt", "reduce_similar_user_num", "collect_cnt", "collect_user_num",
    "cancel_collect_cnt", "cancel_collect_user_num", "direct_comment_user_num", "reply_comment_user_num",
    "share_all_cnt", "share_all_user_num", "outsite_share_all_cnt"]


@dataclass
class KuaiRandOptions:
    #: first day (YYYYMMDD) of validation; earlier days are train
    val_from: int = 20220429
    #: first day (YYYYMMDD) of test
    test_from: int = 20220502
    #: add the per-video monthly statistics (they average over the test days too: a look-ahead)
    video_statistics: bool = False
    #: number of train-quantile buckets of each numeric feature
    n_buckets: int = 100
    #: categorical values seen fewer times in train map to the unknown id
    min_count: int = 1


@register_dataset
class KuaiRandPure(Benchmark):
    name = "kuairand_pure"
    Options = KuaiRandOptions
    tasks = tuple(TaskSpec(f"play_gt{t}s", pos_weight=round(0.9 + 0.05 * i, 2)) for i, t in enumerate(THRESHOLDS))
    description = "KuaiRand-Pure, 9 cascaded play-time tasks, split by date"

    def sources(self) -> list[Source]:
        files = [*LOGS, "user_features_pure.csv", "video_features_basic_pure.csv"]
        if self.options.video_statistics:
            files.append("video_features_statistic_pure.csv")
        return [Source("KuaiRand-Pure.tar.gz", urls=("https://zenodo.org/records/10439422/files/KuaiRand-Pure.tar.gz",),
                       size=47_432_272, md5="0820331067a3784d9691136f772b35a7",
                       mirror_paths=("kuairand/KuaiRand-Pure.tar.gz",),
                       members=tuple(Source(f"{DATA}/{f}") for f in files))]

    def table(self, raw_dir: Path, file: str, columns: list[str], kinds: dict[str, str],
              strict: list[str]) -> tuple[pd.DataFrame, Path, int]:
        """A member CSV (header required; only the ``strict`` columns may not be empty), the path that
        names it in errors and the line of its first row."""
        data, where = read_member(raw_dir, self.sources()[0], f"{DATA}/{file}")
        frame, first = read_csv_strict(where, columns, kinds, data=data, missing_ok=set(columns) - set(strict))
        return frame, where, first

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        if not opt.val_from < opt.test_from:
            raise ValueError(f"dataset_options.{self.name}.prepare: val_from {opt.val_from} must precede test_from {opt.test_from}")
        logs, dropped = [], {"tab != 1": 0, "tab == 1 and play_time_ms <= 0": 0}
        for file in LOGS:
            log, where, first = self.table(raw_dir, file, LOG_COLUMNS,
                                           {c: "int64" if c in LOG_STRICT else "float64" for c in LOG_COLUMNS}, LOG_STRICT)
            check_binary(where, "is_rand", log["is_rand"].to_numpy(), first_line=first)
            tab1, played = log["tab"] == 1, log["play_time_ms"] > 0
            dropped["tab != 1"] += int((~tab1).sum())
            dropped["tab == 1 and play_time_ms <= 0"] += int((tab1 & ~played).sum())
            logs.append(log.loc[tab1 & played, ["user_id", "video_id", "date", "hourmin", "is_rand", "play_time_ms"]])
        log = pd.concat(logs, ignore_index=True)

        users = self.table(raw_dir, "user_features_pure.csv", USER_COLUMNS,
                           {"user_id": "int64", **{c: "float64" for c in USER_NUMERIC}}, ["user_id"])[0]
        videos = self.table(raw_dir, "video_features_basic_pure.csv", BASIC_COLUMNS,
                            {"video_id": "int64", **{c: "float64" for c in BASIC_NUMERIC}}, ["video_id"])[0]
        numeric = USER_NUMERIC + BASIC_NUMERIC
        if opt.video_statistics:
            stats = self.table(raw_dir, "video_features_statistic_pure.csv", STATISTIC_COLUMNS,
                               {c: "int64" if c == "video_id" else "float64" for c in STATISTIC_COLUMNS}, ["video_id"])[0]
            # the video's follow_user_num is not the user's: keep both apart
            stats = stats.rename(columns={c: f"video_{c}" for c in STATISTIC_COLUMNS[1:] if c in USER_COLUMNS})
            videos = videos.merge(stats.drop_duplicates("video_id"), on="video_id", how="left")
            numeric += list(stats.columns[1:])
        unmatched = {"user_features": int((~log["user_id"].isin(users["user_id"])).sum()),
                     "video_features": int((~log["video_id"].isin(videos["video_id"])).sum())}
        rows = (log.merge(users.drop_duplicates("user_id"), on="user_id", how="left")
                   .merge(videos.drop_duplicates("video_id"), on="video_id", how="left"))
        rows["hour"] = rows["hourmin"] // 100

        user_categorical = [c for c in USER_COLUMNS[1:] if c not in USER_NUMERIC]
        categorical_names = ["user_id", "video_id", "hour", "is_rand", *user_categorical, *BASIC_CATEGORICAL]
        date = rows["date"].to_numpy()
        part = {"train": date < opt.val_from, "val": (date >= opt.val_from) & (date < opt.test_from), "test": date >= opt.test_from}
        empty = [s for s, m in part.items() if not m.any()]
        if empty:
            raise ValueError(f"{self.name}: split(s) {empty} are empty with val_from {opt.val_from}, test_from {opt.test_from}")
        as_values = lambda c: (rows[c].to_numpy() if pd.api.types.is_numeric_dtype(rows[c])  # noqa: E731
                               else rows[c].fillna("").astype(str).to_numpy())  # missing: its own category ""
        categorical, features = encode_categorical(
            {c: {s: as_values(c)[m] for s, m in part.items()} for c in categorical_names}, opt.min_count)
        buckets, bucket_features = quantile_buckets(
            {c: {s: rows[c].to_numpy(np.float64)[m] for s, m in part.items()} for c in numeric}, opt.n_buckets)
        seconds = rows["play_time_ms"].to_numpy() // 1000
        labels = np.stack([seconds > t for t in THRESHOLDS], axis=1).astype(np.float32)
        splits = {
            s: {"labels": labels[m], "categorical": np.concatenate([categorical[s], buckets[s]], axis=1),
                "group": rows["user_id"].to_numpy(np.int64)[m]}
            for s, m in part.items()
        }
        self.write(raw_dir, out_dir, splits, {
            "input": "tabular", "categorical": features + bucket_features, "dense": [], "group_key": "user_id",
            "dropped": dropped, "unmatched": unmatched,
        })
