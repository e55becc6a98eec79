"""How far ahead must a planner look on Reach for the latent cost to lead it to the goal?

    python -m worldmodel.benchmarks.reach_lookahead world_model=CKPT [--pairs 20]
        [--lookahead 1 5 8] [--latent-space projected]

An idealised planner, free of model error and search error: the arm's joint space is laid out on a
grid (``--grid-step`` rad; the shoulder wraps, the elbow stops at its limit), every grid pose is
rendered and encoded once, and from each pose the planner looks at every pose within ``L`` actions
(a box of ``L x MAX_DELTA`` rad per joint), picks the one of lowest final-step latent distance to
the goal image, and moves one action toward it; it stops where no pose in the box is better. For
each lookahead ``L`` this prints the share of grid poses from which that descent ends within the
task's success threshold (the goal's basin under the cost), and the held-out ``eval`` pairs
(``wm plan``'s) whose start lies outside it. A pair missed with ``L = 5`` is out of reach of any
5-step search of this cost, however good the model or the search. It reads simulator state (to
lay out the grid and score success), as an evaluator does: a diagnostic of the cost, not a planner.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from envs.reach import ELBOW_LIMIT, MAX_DELTA, ReachEnv
from planners.costs import distance
from planners.evaluate import held_out_pairs
from worldmodel.world_model import load_world_model


def joint_grid(step: float) -> tuple[np.ndarray, np.ndarray]:
    """Shoulder angles over a full turn and elbow angles within the sampler's range."""
    q1 = np.arange(-np.pi, np.pi - 1e-9, step)
    q2 = np.arange(-ELBOW_LIMIT + 0.1, ELBOW_LIMIT - 0.1 + 1e-9, step)
    return q1, q2


def descent_map(cost: np.ndarray, box: int, move: int) -> np.ndarray:
    """For each node of ``cost [n1, n2]`` (axis 0 periodic), the flat index of the node one move
    (at most ``move`` cells per axis) toward the lowest-cost node within ``box`` cells; itself
    when nothing in the box is lower."""
    n1, n2 = cost.shape
    nxt = np.empty(n1 * n2, dtype=np.int64)
    offsets = np.arange(-box, box + 1)
    for i in range(n1):
        rows = (i + offsets) % n1
        for j in range(n2):
            cols = np.arange(max(0, j - box), min(n2, j + box + 1))
            sub = cost[np.ix_(rows, cols)]
            a, b = np.unravel_index(int(np.argmin(sub)), sub.shape)
            if sub[a, b] >= cost[i, j]:
                nxt[i * n2 + j] = i * n2 + j
                continue
            di = int(np.clip(offsets[a], -move, move))
            dj = int(np.clip(cols[b] - j, -move, move))
            nxt[i * n2 + j] = ((i + di) % n1) * n2 + j + dj
    return nxt


def final_nodes(nxt: np.ndarray, steps: int = 500) -> np.ndarray:
    """Where the descent from every node ends (``steps`` moves, enough to stop)."""
    node = np.arange(len(nxt))
    for _ in range(steps):
        node = nxt[node]
    return node


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("world_model", help="world_model=CKPT: whose encode() gives the cost")
    parser.add_argument("--pairs", type=int, default=20, help="held-out eval pairs")
    parser.add_argument("--lookahead", type=int, nargs="+", default=[1, 5, 8],
                        help="actions the idealised planner looks ahead")
    parser.add_argument("--grid-step", type=float, default=0.125, help="grid spacing (rad)")
    parser.add_argument("--metric", default="l2", help="l1 | l2 | cosine")
    parser.add_argument("--latent-space", default="projected", help="tokens | projected")
    args = parser.parse_args(argv)
    model = load_world_model(args.world_model.removeprefix("world_model="), task="reach",
                             latent_space=args.latent_space)
    env = ReachEnv(image_size=model.image_size)
    per_action = int(round(MAX_DELTA / args.grid_step))
    q1, q2 = joint_grid(args.grid_step)
    poses = np.array([[a, b, 0.0, 0.0] for a in q1 for b in q2])
    frames = np.stack([env.render_state(s) for s in poses])
    with torch.no_grad():
        z = torch.cat([model.encode(frames[i:i + 256]).z for i in range(0, len(frames), 256)])
    pairs = held_out_pairs(env, args.pairs)
    print(f"reach: {len(poses)} grid poses ({args.grid_step} rad), {args.pairs} held-out goals, "
          f"final-step {args.metric} on {args.latent_space} latents; one action = "
          f"{per_action} cells")
    goals = []   # per pair, once: the cost grid, which poses succeed, the start's grid node
    for pair in pairs:
        with torch.no_grad():
            goal = model.encode(env.render_state(pair.goal_state)[None]).z
            cost = distance(z, goal.expand_as(z), args.metric, dims=z.ndim - 1).numpy()
        ok = np.array([env.goal_metrics(s, pair.goal_state)["success"] for s in poses])
        i = int(np.argmin(np.abs((q1 - pair.start_state[0] + np.pi) % (2 * np.pi) - np.pi)))
        j = int(np.argmin(np.abs(q2 - pair.start_state[1])))
        goals.append((pair.index, cost.reshape(len(q1), len(q2)), ok, i * len(q2) + j))
    print(f"{'lookahead':>9s} {'basin share':>12s}  pairs whose start is outside the basin")
    for look in args.lookahead:
        shares, missed = [], []
        for index, cost, ok, start in goals:
            end = final_nodes(descent_map(cost, look * per_action, per_action))
            shares.append(float(ok[end].mean()))
            if not ok[end[start]]:
                missed.append(index)
        print(f"{look:9d} {np.mean(shares):12.3f}  {len(missed)} of {len(pairs)}: {missed}")
    env.close()


if __name__ == "__main__":
    main()
