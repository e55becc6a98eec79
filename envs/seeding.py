"""Seed streams. Data collection and evaluation draw from disjoint streams of one base seed, so
held-out start/goal pairs never coincide with the episodes a model was trained on."""
from __future__ import annotations

import numpy as np

STREAMS = {"collect": 0, "eval": 1, "eval_long": 2, "eval_reachable": 3}


def episode_seed(base_seed: int, index: int, stream: str = "collect") -> int:
    """The seed of episode ``index`` in ``stream`` (a 32-bit int, stable across machines)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown seed stream {stream!r}; known: {sorted(STREAMS)}")
    seq = np.random.SeedSequence([int(base_seed), STREAMS[stream], int(index)])
    return int(seq.generate_state(1)[0])
