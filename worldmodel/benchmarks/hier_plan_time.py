"""Planning time per executed step, flat vs hierarchical, on the same long-horizon pairs.

    python -m worldmodel.benchmarks.hier_plan_time --model runs/pointmaze/hier/checkpoint.pt
        [--env pointmaze] [--pairs 4] [--steps 30] [--threads 1]
        [--flat-iterations 6] [--high-iterations 4] [--low-iterations 5]

Runs MPC episodes on the first ``--pairs`` long pairs of the ``eval_long`` stream with flat CEM
(200 samples, horizon 5) and with ``planner=hier`` (high CEM over macro-actions, low CEM),
alternating flat / hierarchical pair by pair so that both see the same machine load, and prints
the median and p90 of the wall time of every ``planner.plan`` call (one per executed step; the
hierarchical planner's calls include its high-level search every ``k`` steps), their ratio, and
each planner's success on those pairs.
"""
from __future__ import annotations

import argparse
import statistics

import torch

from envs.registry import make_env
from planners.evaluate import held_out_pairs
from planners.mpc import MPCConfig, run_episode
from planners.registry import make_planner
from worldmodel.benchmarks.planning import p90
from worldmodel.world_model import load_world_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a `wm train model=hier` checkpoint")
    parser.add_argument("--env", default="pointmaze")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--flat-iterations", type=int, default=6)
    parser.add_argument("--high-iterations", type=int, default=4)
    parser.add_argument("--low-iterations", type=int, default=5)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    model = load_world_model(args.model, device="cpu", task=args.env)
    if not hasattr(model, "high"):
        raise SystemExit(f"{args.model} is not a hierarchical world model (wm train model=hier)")
    env = make_env(args.env)
    cem = {"samples": 200, "elites": 20, "horizon": 5}
    planners = {
        "flat": make_planner("cem", iterations=args.flat_iterations, **cem),
        "hier": make_planner("hier", high={"iterations": args.high_iterations},
                             low={"planner": "cem", "iterations": args.low_iterations, **cem}),
    }
    mpc = MPCConfig(steps=args.steps)
    times: dict[str, list[float]] = {name: [] for name in planners}
    successes = dict.fromkeys(planners, 0)
    pairs = held_out_pairs(env, args.pairs, stream="eval_long", long=True)
    for i, pair in enumerate(pairs):
        for name, planner in planners.items():
            record = run_episode(env, model, planner, mpc, pair.seed,
                                 start_state=pair.start_state, goal_state=pair.goal_state)
            times[name].extend(record.plan_ms)
            successes[name] += int(record.success)
            print(f"pair {i}: {name} success={record.success} "
                  f"median {statistics.median(record.plan_ms):.0f} ms", flush=True)
    env.close()
    for name, values in times.items():
        print(f"{name}: median {statistics.median(values):.0f} ms, p90 {p90(values):.0f} ms per "
              f"executed step over {len(values)} steps; success {successes[name]}/{len(pairs)}")
    ratio = statistics.median(times["hier"]) / statistics.median(times["flat"])
    print(f"hier / flat median planning time per step: {ratio:.2f} "
          f"({args.threads} thread(s), the same pairs, alternated)")


if __name__ == "__main__":
    main()
