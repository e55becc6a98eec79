"""Timing of planner calls, shared by the benchmark scripts."""
from __future__ import annotations

import statistics
import time

import torch

from planners.protocol import Latent
from planners.registry import make_planner


def cem_replan_times(model, start: Latent, goal: Latent, repeats: int,
                     **settings) -> list[float]:
    """Wall seconds of ``repeats`` CEM replans (``settings`` as for ``make_planner("cem")``),
    each from a fresh seed, after one untimed warm-up call; sorted."""
    cem = make_planner("cem", **settings)
    times = []
    for i in range(repeats + 1):
        cem.reset(seed=i)
        t = time.perf_counter()
        with torch.no_grad():
            cem.plan(model, start, goal)
        times.append(time.perf_counter() - t)
    return sorted(times[1:])


def p90(values: list[float]) -> float:
    """The 90th percentile of ``values`` (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def describe_times(times: list[float]) -> str:
    """``median X ms, p90 Y ms over N replans`` of ``times`` in seconds."""
    return (f"median {statistics.median(times) * 1e3:.0f} ms, p90 {p90(times) * 1e3:.0f} ms "
            f"over {len(times)} replans")
