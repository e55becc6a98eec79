"""The idealised lookahead planner of `worldmodel/benchmarks/reach_lookahead.py` on hand-made
cost grids: a short lookahead stops in a local minimum, a long one reaches the global one."""
from __future__ import annotations

import numpy as np

from worldmodel.benchmarks.reach_lookahead import descent_map, final_nodes


def two_valleys(n1: int = 24, n2: int = 9) -> np.ndarray:
    """Cost over a periodic axis 0: a shallow valley at row 4 and the global minimum at row 16,
    with a ridge between them (the same on every column)."""
    rows = np.arange(n1)
    cost = np.minimum(np.abs(rows - 4) + 3.0, np.abs(rows - 16) * 1.0)
    cost[10] += 5.0   # the ridge a one-cell lookahead cannot see over
    return np.repeat(cost[:, None], n2, 1) + 0.01 * np.abs(np.arange(n2) - 4)[None]


def test_short_lookahead_stops_in_the_local_valley_long_reaches_the_goal():
    cost = two_valleys()
    goal = 16 * 9 + 4
    start = 6 * 9 + 0                         # beside the shallow valley, the ridge in between
    assert final_nodes(descent_map(cost, box=1, move=1))[start] == 4 * 9 + 4
    assert final_nodes(descent_map(cost, box=12, move=1))[start] == goal


def test_descent_wraps_round_the_periodic_axis_and_never_leaves_the_grid():
    cost = two_valleys()
    nxt = descent_map(cost, box=3, move=1)
    assert ((0 <= nxt) & (nxt < cost.size)).all()
    # from row 22 the box wraps past row 23 to rows 0-1, yet the cost falls toward row 16
    end = final_nodes(nxt)
    assert end[22 * 9 + 4] == 16 * 9 + 4
    # every move is at most one cell per axis (rows modulo the period)
    rows, cols = np.divmod(np.arange(cost.size), 9)
    nrows, ncols = np.divmod(nxt, 9)
    assert (np.minimum((nrows - rows) % 24, (rows - nrows) % 24) <= 1).all()
    assert (np.abs(ncols - cols) <= 1).all()
