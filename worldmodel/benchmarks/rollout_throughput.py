"""Rollout throughput of the default action-conditioned world model (what planners pay for).

    python -m worldmodel.benchmarks.rollout_throughput [--batch 300] [--horizon 5] [--repeats 7]
        [--latent-space tokens|projected] [world_model=CKPT] [wm train overrides...]

Times ``rollout`` of ``batch`` candidate action sequences over ``horizon`` steps (KV-cached,
inference mode) with the default ``wm train`` architecture (random weights: the cost does not
depend on them), or with a trained checkpoint. Prints predicted steps/s, peak memory (CUDA: the
allocator's peak; CPU: the growth of the process' peak RSS), FLOPs by torch's counter, and the
fraction of the fp32 matmul peak measured in the same run. Also times one CEM replan with the
issue's settings (300 samples, 10 iterations, horizon 5). ``--latent-space projected`` times
them on the projection's coefficients (``wm plan latent_space=projected``) instead of token space.
"""
from __future__ import annotations

import argparse
import resource

import numpy as np
import torch

from worldmodel.benchmarks.flops import count_flops, matmul_peak_gflops, median_time
from worldmodel.benchmarks.planning import cem_replan_times, describe_times


def default_model(overrides: list[str], device: str, latent_space: str = "tokens"):
    """The default world model architecture with random weights (no training needed)."""
    from omegaconf import OmegaConf

    from envs.registry import task_class
    from worldmodel.ac_model import ACWorldModelNet
    from worldmodel.ac_train import ACTrainConfig, build_encoder, predictor_config
    from worldmodel.cli import compose
    from worldmodel.config import from_config
    from worldmodel.data.dataset import resolve_stride
    from worldmodel.world_model import VJEPAWorldModel

    cfg = compose("train", overrides)
    tcfg = from_config(ACTrainConfig, {**OmegaConf.to_container(cfg.model, resolve=True),
                                       "stride": resolve_stride(cfg.stride, cfg.env.name),
                                       "encoder": "random"})
    task = task_class(cfg.env.name)
    encoder, _ = build_encoder(tcfg, cfg.env.image_size)
    net = ACWorldModelNet(encoder, predictor_config(tcfg, encoder, task.action_dim,
                                                    task.proprio_dim),
                          projection=tcfg.projection,
                          projection_per_token=tcfg.projection_per_token)
    return VJEPAWorldModel(net, {"task": cfg.env.name}, device, latent_space), task


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--latent-space", default="tokens", choices=("tokens", "projected"))
    parser.add_argument("overrides", nargs="*", help="world_model=CKPT, or `wm train` overrides")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ckpt = [o.split("=", 1)[1] for o in args.overrides if o.startswith("world_model=")]
    if ckpt:
        from worldmodel.world_model import load_world_model
        model = load_world_model(ckpt[0], device=args.device, latent_space=args.latent_space)
        from envs.registry import task_class
        task = task_class(model.meta["task"])
    else:
        model, task = default_model(args.overrides, args.device, args.latent_space)
    size = model.image_size
    pixels = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    start = model.encode(pixels, np.zeros((1, task.proprio_dim), np.float32))
    goal = model.encode(pixels)
    actions = torch.rand(args.batch, args.horizon, model.action_dim, device=model.device) * 2 - 1
    cuda = model.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss0 = peak_rss_mb()

    def rollout():
        with torch.inference_mode():
            model.rollout(start, actions)
        if cuda:
            torch.cuda.synchronize()

    flops = count_flops(rollout)
    seconds = median_time(rollout, repeats=args.repeats)
    memory = (torch.cuda.max_memory_allocated() / 2**20 if cuda else peak_rss_mb() - rss0)
    peak = matmul_peak_gflops()
    steps = args.batch * args.horizon
    print(f"world model: {model.net.predictor.cfg}")
    print(f"rollout of {args.batch} sequences x {args.horizon} steps on {model.device} "
          f"({torch.get_num_threads()} threads): {seconds * 1e3:.1f} ms (median of "
          f"{args.repeats}) -> {steps / seconds:,.0f} predicted steps/s")
    print(f"FLOPs per rollout: {flops / 1e9:.2f} GFLOP -> {flops / seconds / 1e9:.1f} GFLOP/s = "
          f"{100 * flops / seconds / 1e9 / peak:.0f}% of the {peak:.0f} GFLOP/s fp32 matmul peak")
    print(f"peak memory of the rollouts: {memory:.1f} MiB "
          f"({'CUDA allocator' if cuda else 'process peak RSS growth'})")
    times = cem_replan_times(model, start, goal, args.repeats, samples=300, iterations=10,
                             horizon=5)
    print(f"CEM replan (300 samples, 10 iterations, horizon 5): {describe_times(times)}")


if __name__ == "__main__":
    main()
