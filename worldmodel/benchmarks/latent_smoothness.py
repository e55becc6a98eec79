"""How gradually does a frozen encoder's latent follow Push's pusher as it slides?

    python -m worldmodel.benchmarks.latent_smoothness [--encoder random|CKPT] [--pool 4]
        [--blur 0 1 2]

Renders Push frames with the block fixed and the pusher slid 0..16 pixels to the right (three
rows), encodes them with the frozen encoder (pooling and the frames' Gaussian ``blur`` as in
``wm train``) and prints the mean L1 latent distance to the unshifted frame for shifts of 1, 2, 4,
8 and 16 pixels. A latent that already moves most of its 8-pixel distance after 1 pixel encodes the
pusher's position at a finer scale than a predictor can learn from a few thousand frames, and
gives planners a flat-then-cliff cost landscape.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from envs.push import TABLE, PushEnv
from worldmodel.ac_train import ACTrainConfig, build_encoder

SHIFTS = (1, 2, 4, 8, 16)


def shifted_frames(image_size: int = 64) -> np.ndarray:
    """``[3, 17, H, W, 3]`` frames: three rows, the pusher shifted 0..16 pixels along x."""
    env = PushEnv(image_size=image_size)
    state = np.zeros(env.state_dim)
    state[2:5] = [0.1, 0.12, 0.3]                 # block pose, away from the pusher's path
    rows = []
    for y in (-0.15, -0.1, -0.05):
        row = []
        for px in range(max(SHIFTS) + 1):
            state[:2] = [-0.15 + px * TABLE / image_size, y]
            row.append(env.render_state(state))
        rows.append(row)
    env.close()
    return np.asarray(rows)


def distances(frames: np.ndarray, encoder: str, pool: int, blur: float) -> np.ndarray:
    """Mean L1 latent distance to the unshifted frame, per shift ``[17]``."""
    enc, _ = build_encoder(ACTrainConfig(encoder=encoder, pool=pool, blur=blur), frames.shape[-2])
    rows, shifts = frames.shape[:2]
    with torch.no_grad():
        z = enc.encode_pixels(torch.from_numpy(frames.reshape(-1, *frames.shape[2:])))
    z = z.float().reshape(rows, shifts, -1)
    return (z - z[:, :1]).abs().mean(-1).mean(0).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="random")
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--blur", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    args = parser.parse_args()
    frames = shifted_frames()
    print(f"encoder {args.encoder}, pool {args.pool}: L1 latent distance after a shift of k px")
    print("| blur | " + " | ".join(f"{k} px" for k in SHIFTS) + " | 1 px / 8 px |")
    print("| --- |" + " --- |" * (len(SHIFTS) + 1))
    for blur in args.blur:
        d = distances(frames, args.encoder, args.pool, blur)
        print(f"| {blur:g} | " + " | ".join(f"{d[k]:.4f}" for k in SHIFTS) +
              f" | {d[1] / d[8]:.2f} |")


if __name__ == "__main__":
    main()
