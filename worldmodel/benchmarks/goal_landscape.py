"""Does a latent distance rank states the way the task's success measure does?

    python -m worldmodel.benchmarks.goal_landscape world_model=CKPT [--pairs 20] [--per-scale 32]
        [--paths]

A planner can only be as good as its cost: if the latent distance to the goal does not fall as the
agent gets closer to the goal, no dynamics model helps. For held-out goals (the ``eval`` seed
stream) this renders states around each goal (the goal's simulator state plus Gaussian noise at
several scales, and uniform samples from the task's state sampler), encodes them and compares the
latent distance to the goal image's latent with the task's own distance (``goal_metrics``). It
reads simulator state, as an evaluator does; it is a diagnostic of the representation, not of a
planner. Printed per latent space (the model's projected latents as planners see them, the
encoder's pooled tokens without the projection, downsampled pixels):

* ``succ<near``: the fraction of (success, near-miss) pairs -- task distance within the threshold
  vs between 1x and 2x the threshold -- where the latent distance ranks the success first;
* ``succ<far``: the same against states beyond 2x the threshold;
* ``spearman``: rank correlation between latent and task distance (median over goals).

With ``--paths``, it also walks the straight joint-space path from each held-out pair's start to
its goal (the ``eval`` pairs ``wm plan`` uses; unlimited hinges take the short way round) and
reports the pairs whose latent distance to the goal rises on the way by more than 10% of its value
at the start: a barrier a planner that follows the cost downhill must climb (on Reach, flipping
the elbow to the other side). Walls make the straight path infeasible on PointMaze; there the
figure is about the image distance, not about a route.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from envs.registry import make_env_from_config
from envs.seeding import episode_seed
from planners.evaluate import held_out_pairs
from planners.costs import distance
from planners.oracle import PixelEncoder
from worldmodel.world_model import load_world_model

SCALES = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)  # std of the noise added to the goal's positions


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def pair_accuracy(latent: np.ndarray, task: np.ndarray, good: np.ndarray,
                  bad: np.ndarray) -> float:
    """Fraction of (good, bad) pairs whose latent distance puts the good state first
    (NaN when either group is empty)."""
    if not good.any() or not bad.any():
        return float("nan")
    return float((latent[good][:, None] < latent[bad][None, :]).mean())


def landscape_scores(latent: np.ndarray, task: np.ndarray, threshold: float) -> dict[str, float]:
    """The three scores of one goal's candidates (latent and task distances ``[N]``)."""
    good = task <= threshold
    near = (task > threshold) & (task <= 2 * threshold)
    far = task > 2 * threshold
    rho = np.corrcoef(_ranks(latent), _ranks(task))[0, 1]
    return {"succ<near": pair_accuracy(latent, task, good, near),
            "succ<far": pair_accuracy(latent, task, good, far),
            "spearman": float(rho)}


def candidate_states(env, goal: np.ndarray, rng: np.random.Generator, per_scale: int) -> np.ndarray:
    """States around ``goal``: position noise at each of :data:`SCALES` plus uniform samples."""
    nq = env.model.nq
    states = []
    for scale in SCALES:
        for _ in range(per_scale):
            s = goal.copy()
            s[:nq] = s[:nq] + scale * rng.standard_normal(nq)
            s[nq:] = 0.0
            states.append(s)
    states += [env.sample_state(rng) for _ in range(per_scale)]
    return np.stack(states)


def barrier(profile: np.ndarray) -> float:
    """Largest rise of a distance profile above its running minimum, relative to its start."""
    rise = profile - np.minimum.accumulate(profile)
    return float(rise.max() / max(profile[0], 1e-12))


def straight_path(env, start: np.ndarray, goal: np.ndarray, points: int) -> np.ndarray:
    """States ``[points, state_dim]`` from ``start`` to ``goal`` along a straight line in joint
    positions (velocities zero); unlimited hinge joints turn the short way round."""
    import mujoco

    delta = goal[:env.model.nq] - start[:env.model.nq]
    for j in range(env.model.njnt):
        if env.model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE and not env.model.jnt_limited[j]:
            i = env.model.jnt_qposadr[j]
            delta[i] = (delta[i] + np.pi) % (2 * np.pi) - np.pi
    states = np.zeros((points, len(start)))
    for n, alpha in enumerate(np.linspace(0.0, 1.0, points)):
        states[n, :env.model.nq] = start[:env.model.nq] + alpha * delta
    return states


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("world_model", help="world_model=CKPT")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--per-scale", type=int, default=32)
    parser.add_argument("--metric", default="l2", choices=("l1", "l2", "cosine"))
    parser.add_argument("--paths", action="store_true",
                        help="also report barriers on the straight start-to-goal paths")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = load_world_model(args.world_model.split("=", 1)[-1], device="cpu")
    env = make_env_from_config(model.meta["env"])
    pixels16 = PixelEncoder(model.action_dim, 16)
    spaces = {
        "model latents (planner's)": lambda px: model.encode(px).z,
        "encoder tokens (no projection)": lambda px: model.net.encoder.encode_pixels(
            torch.from_numpy(px)),
        "pixels 16x16": lambda px: pixels16.encode(px).z,
    }
    scores: dict[str, list[dict[str, float]]] = {name: [] for name in spaces}

    def distances(encode, frames: np.ndarray, goal_frame: np.ndarray) -> np.ndarray:
        z = torch.cat([encode(frames[j:j + 256]) for j in range(0, len(frames), 256)])
        return distance(z, encode(goal_frame), args.metric, dims=z.ndim - 1).numpy()

    for i in range(args.pairs):
        seed = episode_seed(0, i, "eval")
        rng = np.random.default_rng(seed)
        env.reset(seed=seed)
        goal = env.sample_state(rng)
        states = candidate_states(env, goal, rng, args.per_scale)
        task = np.array([env.goal_metrics(s, goal)["distance"] for s in states])
        frames = np.stack([env.render_state(s) for s in states])
        goal_frame = env.render_state(goal)[None]
        for name, encode in spaces.items():
            lat = distances(encode, frames, goal_frame)
            scores[name].append(landscape_scores(lat, task, env.success_threshold))
    barriers: dict[str, list[float]] = {name: [] for name in spaces}
    if args.paths:
        for pair in held_out_pairs(env, args.pairs):
            frames = np.stack([env.render_state(s) for s in straight_path(
                env, pair.start_state, pair.goal_state, 21)])
            for name, encode in spaces.items():
                barriers[name].append(barrier(distances(encode, frames[:-1], frames[-1:])))
    env.close()
    print(f"{model.meta['task']}: {args.pairs} goals x {len(states)} states, "
          f"{args.metric} latent distance, threshold {env.success_threshold}")
    print(f"{'latent space':34s} {'succ<near':>10s} {'succ<far':>10s} {'spearman':>10s}")
    for name, rows in scores.items():
        cols = [np.nanmedian([r[key] for r in rows]) for key in ("succ<near", "succ<far",
                                                                   "spearman")]
        print(f"{name:34s} " + " ".join(f"{c:10.3f}" for c in cols))
    if args.paths:
        print(f"straight start-to-goal paths of the {args.pairs} held-out eval pairs: pairs whose "
              f"latent distance rises by more than 10% of its start value on the way")
        for name, rises in barriers.items():
            over = [i for i, r in enumerate(rises) if r > 0.1]
            print(f"{name:34s} {len(over):3d} of {len(rises)}: pairs {over}")


if __name__ == "__main__":
    main()
