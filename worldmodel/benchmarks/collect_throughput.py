"""Collection throughput: rendered transitions per second, one process and all cores.

    python -m worldmodel.benchmarks.collect_throughput [--env reach] [--episodes 60] [--repeats 3]

Each repeat runs the real ``collect()`` (policy, physics, 64x64 rendering, atomic episode writes)
into a fresh temporary directory; figures are medians over the repeats. The all-cores figure
includes starting the worker processes.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from envs.collect import CollectConfig, collect


def measure(env: str, workers: int, episodes: int, steps: int, repeats: int) -> float:
    """Median transitions/s of ``collect`` with ``workers`` processes."""
    rates = []
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = CollectConfig(env={"name": env, "image_size": 64}, episodes=episodes,
                                steps=steps, out=os.path.join(tmp, "data"), seed=r,
                                workers=workers, preview=0, progress=False)
            start = time.perf_counter()
            collect(cfg)
            rates.append(episodes * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="reach")
    parser.add_argument("--episodes", type=int, default=60)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    one = measure(args.env, 1, args.episodes, args.steps, args.repeats)
    many = measure(args.env, cores, args.episodes, args.steps, args.repeats)
    print(f"env={args.env} 64x64, {args.episodes} episodes x {args.steps} steps, "
          f"median of {args.repeats}")
    print(f"1 process      : {one:8.0f} transitions/s")
    print(f"{cores} processes    : {many:8.0f} transitions/s ({many / cores:.0f} per core, "
          f"{many / one:.2f}x one process)")


if __name__ == "__main__":
    main()
