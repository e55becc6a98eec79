"""Planning cost of the pixel world-model baseline: one CEM replan on the CPU.

    python -m worldmodel.benchmarks.pixel_plan_time [--image-size 64] [--repeats 5]
        [--samples 300] [--iterations 10] [--horizon 5] [--threads 0] [--device cpu]

Times ``planner.plan`` of CEM (the issue's settings: 300 samples, 10 iterations, horizon 5) with
the default ``model=pixel`` architecture and random weights (the cost does not depend on them),
and prints the median and p90 over ``repeats`` replans (after one warm-up), with the parameter
count and the time of one rollout of all candidates.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from worldmodel.benchmarks.planning import cem_replan_times, describe_times
from worldmodel.models import count_parameters
from worldmodel.models.pixel_predictor import PixelPredictorConfig
from worldmodel.pixel_model import PixelWorldModel, PixelWorldModelNet
from worldmodel.pixel_train import PixelTrainConfig


def default_model(image_size: int, action_dim: int, device: str) -> PixelWorldModel:
    """The default ``model=pixel`` architecture with random weights."""
    cfg = PixelTrainConfig()
    torch.manual_seed(0)
    net = PixelWorldModelNet(PixelPredictorConfig(image_size=image_size, action_dim=action_dim,
                                                  channels=cfg.channels, blocks=cfg.blocks))
    return PixelWorldModel(net, {"task": "benchmark"}, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--action-dim", type=int, default=2)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = default_model(args.image_size, args.action_dim, args.device)
    rng = np.random.default_rng(0)
    size = args.image_size
    start = model.encode(rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8))
    goal = model.encode(rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8))
    actions = torch.rand(args.samples, args.horizon, model.action_dim, device=model.device) * 2 - 1
    with torch.no_grad():
        model.rollout(start, actions)
        t = time.perf_counter()
        model.rollout(start, actions)
        rollout_s = time.perf_counter() - t
    times = cem_replan_times(model, start, goal, args.repeats, samples=args.samples,
                             iterations=args.iterations, horizon=args.horizon)
    print(f"pixel world model: {model.net.predictor.cfg} "
          f"({count_parameters(model.net) / 1e6:.3f}M params)")
    print(f"rollout of {args.samples} sequences x {args.horizon} steps on {model.device} "
          f"({torch.get_num_threads()} threads): {rollout_s * 1e3:.0f} ms")
    print(f"CEM replan ({args.samples} samples, {args.iterations} iterations, horizon "
          f"{args.horizon}, {size}x{size}): {describe_times(times)}")


if __name__ == "__main__":
    main()
