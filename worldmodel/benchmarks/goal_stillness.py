"""Does a world model know that doing nothing at the goal keeps it there?

    python -m worldmodel.benchmarks.goal_stillness world_model=CKPT [--pairs 20] [--samples 300]

For held-out goal poses, the agent starts *at* the goal; the model scores the all-zero action
sequence against ``samples - 1`` others, half uniform in the bounds and half small (std 0.1) moves
around zero (horizon 5, L1 to the goal latent, final step). A model a planner can stop with ranks
the zero sequence first. Prints the rank of the zero sequence per pair
and its predicted cost (the model's drift) next to the best random one.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from envs.registry import make_env_from_config
from envs.seeding import episode_seed
from planners.costs import CostConfig, latent_cost
from worldmodel.world_model import load_world_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world_model", help="world_model=CKPT")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=5)
    args = parser.parse_args()
    model = load_world_model(args.world_model.split("=", 1)[-1])
    env = make_env_from_config(model.meta["env"])
    gen = torch.Generator().manual_seed(0)
    ranks = []
    for i in range(args.pairs):
        seed = episode_seed(0, i, "eval")
        goal = env.sample_state(np.random.default_rng(seed))
        obs, _ = env.reset(seed=seed, options={"start_state": goal, "goal_state": goal})
        start = model.encode(obs["pixels"][None], obs["proprio"][None])
        target = model.encode(env.render_goal()[None])
        actions = torch.rand(args.samples, args.horizon, model.action_dim, generator=gen) * 2 - 1
        half = args.samples // 2
        actions[half:] = 0.1 * torch.randn(args.samples - half, args.horizon, model.action_dim,
                                           generator=gen)
        actions[0] = 0.0
        with torch.no_grad():
            cost = latent_cost(model.rollout(start, actions), target, CostConfig())
        ranks.append(int((cost < cost[0]).sum()))
        print(f"pair {i:2d}: zero-action cost {cost[0]:.4f}, best random {cost[1:].min():.4f}, "
              f"rank of zero {ranks[-1]} of {args.samples}")
    print(f"zero sequence ranked first in {sum(r == 0 for r in ranks)} of {len(ranks)} pairs; "
          f"median rank {int(np.median(ranks))}")
    env.close()


if __name__ == "__main__":
    main()
