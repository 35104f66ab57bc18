"""Synthetic e-commerce search funnel with known true probabilities: runs anywhere, no download.

A seeded generator of search sessions. Users, queries and items have latent factors in four
blocks of ``latent_dim`` dimensions (b = 0 shared, b = 1, 2, 3 one per funnel stage), all
standard normal. A session is one user issuing one query and seeing ``session_length`` items at
positions 0, 1, ...; users, queries and items are drawn with Zipf popularity (weight of the
r-th most popular ∝ (r + 1) ** -``popularity``). For an impression of item i to user u for
query q::

    r_b   = <U_u,b + Q_q,b, V_i,b> / sqrt(2 * latent_dim)          (variance 1)
    s_k   = sqrt(c) * r_0 + sqrt(1 - c) * r_k,   k = 1, 2, 3
    p(click)             = sigmoid(beta_1 + signal * s_1 - position_bias * log(1 + position))
    p(cart | click)      = sigmoid(beta_2 + signal * s_2)
    p(purchase | cart)   = sigmoid(beta_3 + signal * s_3)

with c = ``correlation``: corr(s_j, s_k) = c over random factors (a finite population with skewed
popularity realises it up to the chance draws of its most popular members). Labels are sampled stage by stage, so cart implies click and purchase
implies cart; the tasks are the cumulative events over all impressions, with true probabilities
P(click) = p1, P(cart) = p1 p2, P(purchase) = p1 p2 p3. The intercepts beta_k are solved (on a
separate seeded calibration sample from the same populations) so that the marginal rates over
impressions equal ``rates``.

Features: ids of user, query and item (0 = not seen in train), a user segment, a query category
and an item category (the argmax of the shared factor block projected on seeded random
centroids, so they carry part of the signal), and the position (dense, log1p-standardised with
train statistics). Group key: the session. Sessions are i.i.d., so the first ``fractions[0]``
of them form train, the next ones validation, the last ones test.

The oracle (scoring with the true probabilities) is evaluated on validation and test with the
same metrics as the models and written to schema.json (``schema["oracle"][split][task]``).
Generation runs in chunks of sessions with one random stream per chunk, so 1e7 rows fit in a few
GiB and the result does not depend on memory settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit

from analysis.metrics import binary_task_metrics
from core.config import ConfigError

from .base import Benchmark, Source, TaskSpec, register_dataset

CHUNK_SESSIONS = 100_000
CALIBRATION_SESSIONS = 50_000
STAGES = 3
CATEGORICAL = ["user_id", "user_segment", "query_id", "query_category", "item_id", "item_category"]


@dataclass
class FunnelOptions:
    #: impressions in total (train + validation + test); tested from 1e3 to 1e7
    rows: int = 1_000_000
    session_length: int = 10
    users: int = 20_000
    queries: int = 2_000
    items: int = 10_000
    user_segments: int = 8
    categories: int = 20
    latent_dim: int = 8
    #: marginal rates of click, cart, purchase over all impressions (strictly decreasing)
    rates: list[float] = field(default_factory=lambda: [0.1, 0.03, 0.01])
    #: correlation c of the stage scores: 0 independent stages, 1 one shared score
    correlation: float = 0.5
    #: weight of the stage scores in the logits (higher: more predictable, higher oracle AUC)
    signal: float = 1.5
    #: the click logit drops by position_bias * log(1 + position)
    position_bias: float = 0.3
    #: Zipf exponent of the popularity of users, queries and items
    popularity: float = 1.0
    #: train/val/test shares of the sessions
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    seed: int = 0


@register_dataset
class SyntheticFunnel(Benchmark):
    name = "synthetic_funnel"
    Options = FunnelOptions
    tasks = (TaskSpec("click"), TaskSpec("cart"), TaskSpec("purchase"))
    description = "synthetic search sessions (impression -> click -> cart -> purchase) with known probabilities"

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        check_options(self.options)  # at config load, before any job runs

    def sources(self) -> list[Source]:
        return []

    def prepare(self, raw_dir: Path, out_dir: Path) -> None:
        opt = self.options
        gen = FunnelGenerator(opt)
        data = gen.generate()
        n_sessions = data["group"][-1] + 1
        bounds = np.round(np.cumsum(opt.fractions)[:-1] / sum(opt.fractions) * n_sessions).astype(np.int64)
        cuts = np.searchsorted(data["group"], bounds)
        parts = dict(zip(("train", "val", "test"), zip([0, *cuts], [*cuts, len(data["group"])])))
        if any(b - a == 0 for a, b in parts.values()):
            raise ValueError(f"dataset_options.synthetic_funnel.prepare: a split has no rows ({opt.rows} rows, "
                             f"fractions {opt.fractions}); use more rows")
        a, b = parts["train"]
        ids = data["categorical"]
        sizes = [opt.users, opt.user_segments, opt.queries, opt.categories, opt.items, opt.categories]
        for j, size in enumerate(sizes):  # ids never seen in train become 0 (unknown)
            seen = np.bincount(ids[a:b, j], minlength=size + 1) > 0
            ids[:, j] *= seen[ids[:, j]]
        vocab = [{"name": n, "vocab_size": size + 1} for n, size in zip(CATEGORICAL, sizes)]
        position = np.log1p(data["position"].astype(np.float64))
        mean, std = position[a:b].mean(), position[a:b].std()
        dense = ((position - mean) / (std if std > 0 else 1.0)).astype(np.float32)[:, None]
        splits = {s: {"labels": data["labels"][a:b], "categorical": ids[a:b], "dense": dense[a:b],
                      "group": data["group"][a:b]} for s, (a, b) in parts.items()}
        names = [t.name for t in self.tasks]
        oracle = {
            s: {t: binary_task_metrics(data["labels"][a:b, k], data["oracle"][a:b, k], data["group"][a:b])
                for k, t in enumerate(names)}
            for s, (a, b) in parts.items() if s != "train"
        }
        self.write(raw_dir, out_dir, splits, {
            "input": "tabular", "categorical": vocab, "dense": ["position"], "group_key": "session",
            "oracle": oracle, "intercepts": dict(zip(names, gen.intercepts)),
        })


class FunnelGenerator:
    """Populations, calibrated intercepts and chunked session generation (see the module docstring)."""

    def __init__(self, opt: FunnelOptions) -> None:
        check_options(opt)
        self.opt = opt
        rng = np.random.default_rng([opt.seed, 0])
        d = opt.latent_dim
        self.factors = {k: rng.standard_normal((n, STAGES + 1, d), dtype=np.float32)
                        for k, n in (("user", opt.users), ("query", opt.queries), ("item", opt.items))}
        segment_centroids = rng.standard_normal((d, opt.user_segments), dtype=np.float32)
        category_centroids = rng.standard_normal((d, opt.categories), dtype=np.float32)
        self.user_segment = np.argmax(self.factors["user"][:, 0] @ segment_centroids, axis=1)
        self.query_category = np.argmax(self.factors["query"][:, 0] @ category_centroids, axis=1)
        self.item_category = np.argmax(self.factors["item"][:, 0] @ category_centroids, axis=1)
        self.popularity = {k: zipf_cdf(len(v), opt.popularity) for k, v in self.factors.items()}
        self.intercepts = self._calibrate(self._logit_parts(self._draw(np.random.default_rng([opt.seed, 1]),
                                                                        CALIBRATION_SESSIONS)))

    def _draw(self, rng: np.random.Generator, n_sessions: int) -> dict[str, np.ndarray]:
        """Who sees what: population indices per impression and positions."""
        length = self.opt.session_length
        pick = lambda k, n: np.searchsorted(self.popularity[k], rng.random(n), side="right")  # noqa: E731
        return {
            "user": np.repeat(pick("user", n_sessions), length),
            "query": np.repeat(pick("query", n_sessions), length),
            "item": pick("item", n_sessions * length),
            "position": np.tile(np.arange(length), n_sessions),
        }

    def stage_scores(self, draw: dict[str, np.ndarray]) -> np.ndarray:
        """s_k for k = 1..3, float64 [n, 3]."""
        U, Q, V = self.factors["user"], self.factors["query"], self.factors["item"]
        scale = np.sqrt(2.0 * self.opt.latent_dim)
        r = np.stack([
            np.einsum("nd,nd->n", U[draw["user"], b] + Q[draw["query"], b], V[draw["item"], b]).astype(np.float64) / scale
            for b in range(STAGES + 1)
        ], axis=1)
        c = self.opt.correlation
        return np.sqrt(c) * r[:, :1] + np.sqrt(1.0 - c) * r[:, 1:]

    def _logit_parts(self, draw: dict[str, np.ndarray]) -> np.ndarray:
        """The logits of p(click), p(cart | click), p(purchase | cart) without intercepts."""
        x = self.opt.signal * self.stage_scores(draw)
        x[:, 0] -= self.opt.position_bias * np.log1p(draw["position"])
        return x

    def _calibrate(self, x: np.ndarray) -> list[float]:
        """Intercepts that make the marginal stage rates equal ``rates`` on the calibration sample."""
        intercepts, reach = [], np.ones(len(x))
        for k, rate in enumerate(self.opt.rates):
            beta = brentq(lambda b: float(np.mean(reach * expit(b + x[:, k]))) - rate, -50.0, 50.0, xtol=1e-12)
            intercepts.append(float(beta))
            reach = reach * expit(beta + x[:, k])
        return intercepts

    def conditional_probabilities(self, draw: dict[str, np.ndarray]) -> np.ndarray:
        """p(click), p(cart | click), p(purchase | cart), float64 [n, 3]."""
        return expit(self._logit_parts(draw) + np.asarray(self.intercepts))

    def generate(self) -> dict[str, np.ndarray]:
        """All rows: categorical ids (1-based; 0 stays free for unknown), position, labels [n, 3],
        oracle probabilities P(click), P(cart), P(purchase) [n, 3], session ids."""
        opt = self.opt
        n_sessions = -(-opt.rows // opt.session_length)
        out = {
            "categorical": np.empty((opt.rows, len(CATEGORICAL)), dtype=np.int64),
            "position": np.empty(opt.rows, dtype=np.int64),
            "labels": np.empty((opt.rows, STAGES), dtype=np.float32),
            "oracle": np.empty((opt.rows, STAGES), dtype=np.float32),
            "group": np.empty(opt.rows, dtype=np.int64),
        }
        for chunk, first in enumerate(range(0, n_sessions, CHUNK_SESSIONS)):
            rng = np.random.default_rng([opt.seed, 2, chunk])
            n = min(CHUNK_SESSIONS, n_sessions - first)
            draw = self._draw(rng, n)
            p = self.conditional_probabilities(draw)
            events = np.cumprod(rng.random(p.shape) < p, axis=1)  # each stage needs the previous one
            a = first * opt.session_length
            b = min(a + n * opt.session_length, opt.rows)
            m = b - a
            out["categorical"][a:b] = np.stack([
                draw["user"][:m] + 1, self.user_segment[draw["user"][:m]] + 1,
                draw["query"][:m] + 1, self.query_category[draw["query"][:m]] + 1,
                draw["item"][:m] + 1, self.item_category[draw["item"][:m]] + 1,
            ], axis=1)
            out["position"][a:b] = draw["position"][:m]
            out["labels"][a:b] = events[:m]
            out["oracle"][a:b] = np.cumprod(p, axis=1)[:m]
            out["group"][a:b] = first + np.arange(m) // opt.session_length
        return out


def check_options(opt: FunnelOptions) -> None:
    where = "dataset_options.synthetic_funnel.prepare"
    r = opt.rates
    if len(r) != STAGES or not 0 < r[2] < r[1] < r[0] < 1:
        raise ConfigError(f"{where}.rates: need 3 rates with 0 < purchase < cart < click < 1, got {r}")
    if not 0 <= opt.correlation <= 1:
        raise ConfigError(f"{where}.correlation: must lie in [0, 1], got {opt.correlation}")
    if opt.rows < 1000:
        raise ConfigError(f"{where}.rows: at least 1000, got {opt.rows}")
    if len(opt.fractions) != 3 or min(opt.fractions) <= 0:
        raise ConfigError(f"{where}.fractions: need 3 positive fractions")
    if min(opt.session_length, opt.users, opt.queries, opt.items, opt.user_segments, opt.categories, opt.latent_dim) < 1:
        raise ConfigError(f"{where}: session_length, users, queries, items, user_segments, categories and "
                         "latent_dim must be >= 1")


def zipf_cdf(n: int, exponent: float) -> np.ndarray:
    """Cumulative popularity of ``n`` entities, the r-th (0-based) weighted (r + 1) ** -exponent."""
    w = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return cdf
