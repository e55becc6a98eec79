"""How much of what moves does a latent projection keep?

    python -m worldmodel.benchmarks.projection_change data_dir=DIR [--pool 4] [--k 64 16]
        [--encoder random|CKPT]

Encodes a dataset with a frozen encoder (random init by default) and fits, on 90% of the
episodes, the per-frame projection (PCA of the flattened tokens) and the per-token projection
(PCA of each token's channels) for each ``k``. On the other 10% it prints the share of the
latents' variance each keeps and the share of the frame-to-frame change (energy of ``z[t+1] -
z[t]``); when the dataset's states say which steps moved a second body (Push: the block), the
change is also split into steps where it stayed still and steps where it moved. A world model
trained in a projection can only predict the change the projection keeps.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from worldmodel.ac_train import ACTrainConfig, build_encoder
from worldmodel.data.dataset import split_episodes
from worldmodel.data.storage import EpisodeStore
from worldmodel.latents import LatentProjection, encode_store

#: the passive body whose motion splits the steps, and its state columns, per task
PASSIVE_BODY = {"push": ("block", slice(2, 5))}


def kept(projection: LatentProjection, x: torch.Tensor) -> float:
    """Share of the energy of centred or difference latents ``x [N, P, D]`` in the projection's
    (orthonormal) subspace."""
    rows = x.flatten(-2).unflatten(-1, (projection.out_tokens, -1))
    return float((rows @ projection.basis).square().sum() / rows.square().sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="data_dir=DIR")
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--k", type=int, nargs="+", default=[64, 16])
    parser.add_argument("--encoder", default="random")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = args.data_dir.split("=", 1)[-1]
    store = EpisodeStore(data_dir)
    encoder, _ = build_encoder(ACTrainConfig(data_dir=data_dir, encoder=args.encoder,
                                             pool=args.pool), store.meta.image_size)
    z = encode_store(encoder, store, progress=True).float()            # [E, T+1, P, D]
    train, held = split_episodes(len(store), 0.1, 0)
    train, held = torch.as_tensor(train), torch.as_tensor(held)
    change = (z[held, 1:] - z[held, :-1])
    moved = None
    body, cols = PASSIVE_BODY.get(store.meta.task, (None, None))
    if body is not None:
        state = np.stack([np.array(store[int(e)]["state"])[:, cols] for e in held])
        moved = torch.as_tensor(np.linalg.norm(np.diff(state, axis=1), axis=2) > 1e-3)
    print(f"{data_dir}: {len(store)} episodes of {store.meta.task}, {z.shape[2]} tokens x "
          f"{z.shape[3]} per frame; shares kept on the {len(held)} held-out episodes")
    header = "| projection | k | dims | latent variance | step change |"
    if moved is not None:
        header += (f" change, {body} still | {body} moving "
                   f"({float(moved.float().mean()):.0%} of steps) |")
    print(header)
    for k in args.k:
        for per_token in (False, True):
            proj = LatentProjection(z.shape[2], z.shape[3], k, per_token=per_token)
            proj.fit(z[train].flatten(0, 1))
            centred = z[held].flatten(0, 1) - proj.mean.view_as(z[0, 0])
            row = (f"| {'per token' if per_token else 'per frame'} | {k} | "
                   f"{k * proj.out_tokens} | {kept(proj, centred):.3f} | "
                   f"{kept(proj, change.flatten(0, 1)):.3f} |")
            if moved is not None:
                row += f" {kept(proj, change[~moved]):.3f} | {kept(proj, change[moved]):.3f} |"
            print(row)


if __name__ == "__main__":
    main()
