"""The evaluation harness: held-out start/goal pairs, one MPC episode each, success with a 95% CI.

Pairs come from the ``eval`` seed stream of :mod:`envs.seeding`, disjoint from the ``collect``
stream the training data was drawn from. Success is read at the end of the step budget.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from tqdm import tqdm

from envs.seeding import episode_seed
from planners.base import Planner, require_positive_int
from planners.mpc import EpisodeRecord, MPCConfig, run_episode
from planners.protocol import WorldModel


PAIR_SETS = ("default", "long", "reachable")
#: the seed stream each pair set draws from unless told otherwise (all disjoint from ``collect``)
PAIR_STREAMS = {"default": "eval", "long": "eval_long", "reachable": "eval_reachable"}


@dataclasses.dataclass
class EvalConfig:
    """Settings of an evaluation.

    Attributes:
        episodes: held-out start/goal pairs, one episode each.
        seed: base seed of the pairs (with ``stream``) and of the planner.
        stream: seed stream of the pairs (``eval``; ``pairs=long`` / ``reachable`` switch it to
            ``eval_long`` / ``eval_reachable``).
        pairs: ``default`` (start and goal drawn like the training episodes'), ``long`` (start
            and goal far apart: the task's ``sample_long_pair``; PointMaze, Push) or
            ``reachable`` (the goal is where the task's exploration policy got from the start in
            ``goal_steps`` control steps: ``sample_reachable_pair``, DINO-WM's kind of goal).
        goal_steps: control steps from start to goal of ``pairs=reachable``.
        steps / replan_every: the MPC budget and replanning rate (see :class:`MPCConfig`).
        videos: episodes whose records are kept for MP4s (the first ones).
        progress: show a progress bar.
        only: run just these pair indices (each in ``[0, episodes)``) to re-run a few episodes;
            each pair and its planner seed are the same as in the full run, so are its results.
    """

    episodes: int = 50
    seed: int = 0
    stream: str = "eval"
    pairs: str = "default"
    goal_steps: int = 25
    steps: int = 20
    replan_every: int = 1
    videos: int = 4
    progress: bool = True
    only: tuple[int, ...] | None = None

    def __post_init__(self):
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) \
                or self.episodes < 1:
            raise ValueError(f"episodes must be a positive integer, got {self.episodes!r}")
        if self.videos < 0:
            raise ValueError(f"videos must be >= 0, got {self.videos}")
        if self.pairs not in PAIR_SETS:
            raise ValueError(f"pairs must be one of {PAIR_SETS}, got {self.pairs!r}")
        if self.only is not None:
            only = [self.only] if isinstance(self.only, int) else list(self.only)
            if not only or not all(isinstance(i, int) and not isinstance(i, bool)
                                   and 0 <= i < self.episodes for i in only):
                raise ValueError(f"only must list pair indices in [0, episodes={self.episodes}), "
                                 f"got {self.only!r}")
            self.only = tuple(only)
        if self.stream == "eval":
            self.stream = PAIR_STREAMS[self.pairs]
        require_positive_int("goal_steps", self.goal_steps)
        self.mpc()  # validates steps / replan_every

    def mpc(self) -> MPCConfig:
        return MPCConfig(steps=self.steps, replan_every=self.replan_every)


@dataclasses.dataclass
class EpisodePair:
    """A held-out episode: its seed and the start and goal simulator states (evaluator only)."""

    seed: int
    start_state: np.ndarray
    goal_state: np.ndarray
    index: int = 0          # position in the held-out sequence


def held_out_pairs(env, n: int, seed: int = 0, stream: str = "eval", long: bool = False,
                   reachable_steps: int | None = None) -> list[EpisodePair]:
    """``n`` start/goal pairs, episode ``i`` drawn from ``episode_seed(seed, i, stream)``.

    Uses ``env.reset(seed=...)`` exactly as collection does, so the ``collect`` stream reproduces
    the training episodes' starts and goals and the ``eval`` stream gives pairs disjoint from them.
    With ``long``, the pair comes from the task's ``sample_long_pair`` (start and goal far apart)
    with a generator seeded the same way; with ``reachable_steps``, from its
    ``sample_reachable_pair`` (the goal that many exploration steps from the start).
    """
    if long and reachable_steps is not None:
        raise ValueError("held_out_pairs: choose long or reachable_steps, not both")
    pairs = []
    for i in range(n):
        s = episode_seed(seed, i, stream)
        if long:
            start, goal = env.unwrapped.sample_long_pair(np.random.default_rng(s))
        elif reachable_steps is not None:
            start, goal = env.unwrapped.sample_reachable_pair(np.random.default_rng(s),
                                                              reachable_steps)
        else:
            start = goal = None   # reset draws both, as collection does
        options = None if start is None else {"start_state": start, "goal_state": goal}
        env.reset(seed=s, options=options)
        pairs.append(EpisodePair(s, env.get_state().copy(), np.array(env.goal_state, np.float64),
                                 index=i))
    return pairs


def pairs_for(env, cfg: EvalConfig) -> list[EpisodePair]:
    """The held-out pairs an :class:`EvalConfig` names (``cfg.only``: just those of them)."""
    pairs = held_out_pairs(env, cfg.episodes, cfg.seed, cfg.stream, long=cfg.pairs == "long",
                           reachable_steps=cfg.goal_steps if cfg.pairs == "reachable" else None)
    return pairs if cfg.only is None else [pairs[i] for i in cfg.only]


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a success rate (95% by default); ``(0, 1)`` when ``n == 0``."""
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def median_curve(curves: list[list[float]]) -> list[float]:
    """Per-iteration median over cost curves (shorter curves hold their last value)."""
    curves = [c for c in curves if len(c)]
    if not curves:
        return []
    length = max(len(c) for c in curves)
    padded = np.array([list(c) + [c[-1]] * (length - len(c)) for c in curves], np.float64)
    return [float(v) for v in np.median(padded, axis=0)]


def summarize(records: list[EpisodeRecord], pairs: list[EpisodePair]) -> dict[str, Any]:
    """The summary numbers of a list of episodes."""
    n = len(records)
    wins = sum(r.success for r in records)
    plan_ms = np.array([ms for r in records for ms in r.plan_ms], np.float64)
    per_episode = [{"pair": p.index, "seed": p.seed, **r.summary()} for p, r in zip(pairs, records)]
    return {
        "success_rate": wins / n,
        "success_ci95": list(wilson_interval(wins, n)),
        "successes": wins,
        "ever_success_rate": sum(r.ever_success for r in records) / n,
        "episodes": n,
        "final_distance_mean": float(np.mean([r.final_distance for r in records])),
        "plan_ms_median": float(np.median(plan_ms)) if plan_ms.size else 0.0,
        "plan_ms_p90": float(np.percentile(plan_ms, 90)) if plan_ms.size else 0.0,
        "cost_curve_median": median_curve([c for r in records for c in r.costs]),
        "per_episode": per_episode,
    }


def evaluate(env, model: WorldModel, planner: Planner, cfg: EvalConfig,
             pairs: list[EpisodePair] | None = None, desc: str = "plan") -> dict[str, Any]:
    """Run one MPC episode per held-out pair; return the summary (see :func:`summarize`).

    The records of the first ``cfg.videos`` episodes are kept under ``"records"`` (not JSON; the
    report turns them into videos and drops them).
    """
    pairs = pairs if pairs is not None else pairs_for(env, cfg)
    mpc = cfg.mpc()
    records = []
    for pair in tqdm(pairs, desc=desc, unit="ep", disable=not cfg.progress):
        records.append(run_episode(env, model, planner, mpc, pair.seed, start_state=pair.start_state,
                                   goal_state=pair.goal_state))
    result = summarize(records, pairs)
    result["records"] = records[: cfg.videos]
    return result
