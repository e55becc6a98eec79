"""Pretraining throughput of the default V-JEPA config, and the fraction of matmul peak it reaches.

    python -m worldmodel.benchmarks.pretrain_throughput [--batch 32] [--repeats 5] [--threads 0]

Times full training steps (forward, backward, AdamW, EMA update) of the default config
(``configs/pretrain.yaml``) on random 64x64 clips; FLOPs are counted by torch's FLOP counter over
one step; the peak is the median of 1024x1024 fp32 matmuls measured in the same run.
"""
from __future__ import annotations

import argparse

import torch

from worldmodel.benchmarks.flops import count_flops, matmul_peak_gflops, median_time
from worldmodel.cli import compose
from worldmodel.config import from_config
from worldmodel.pretrain import PretrainConfig, PretrainObjective, build_model
from worldmodel.train.optim import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of `wm pretrain`")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = compose("pretrain", args.overrides)
    from omegaconf import OmegaConf
    pcfg = from_config(PretrainConfig, {**OmegaConf.to_container(cfg.model, resolve=True),
                                        "num_frames": cfg.num_frames})
    torch.manual_seed(0)
    size = cfg.env.image_size
    objective = PretrainObjective(build_model(pcfg, size), pcfg.ema_start, pcfg.ema_end,
                                  pcfg.ema_schedule)
    opt = make_optimizer(objective, 1e-4, 0.04, (0.9, 0.999))
    batch = {"frames": torch.randint(0, 256, (args.batch, cfg.num_frames, 3, size, size),
                                     dtype=torch.uint8)}
    gen = torch.Generator().manual_seed(0)

    def step():
        loss, _ = objective(batch, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        objective.on_step_end(0, 100)

    flops = count_flops(step)
    seconds = median_time(step, repeats=args.repeats)
    peak = matmul_peak_gflops()
    achieved = flops / seconds / 1e9
    print(f"V-JEPA pretraining, default config ({cfg.model.encoder.size} encoder, {size}x{size}, "
          f"{cfg.num_frames}-frame clips), batch {args.batch}, {torch.get_num_threads()} threads")
    print(f"step time (median of {args.repeats}): {seconds * 1e3:.0f} ms -> "
          f"{args.batch / seconds:.1f} clips/s")
    print(f"FLOPs per step: {flops / 1e9:.1f} GFLOP -> {achieved:.1f} GFLOP/s")
    print(f"fp32 matmul peak (1024^3, median): {peak:.1f} GFLOP/s -> "
          f"{100 * achieved / peak:.0f}% of peak")


if __name__ == "__main__":
    main()
