"""The receding-horizon (MPC) loop: encode, plan, execute the first steps, replan.

Information flow, the point of this module: the world model and the planner only ever receive the
agent's ``pixels``, its ``proprio`` and the goal image (through :meth:`WorldModel.encode`), plus the
latents and action tensors they produce themselves. Simulator state, ``info``, the reward and the
success flag never reach them; :func:`run_episode` reads ``info["success"]`` and
``info["distance"]`` after each environment step for the record only.

One model step is one action chunk: ``chunk = model.action_dim // env_action_dim`` environment
actions, flattened in time order (``chunk_action.reshape(chunk, env_action_dim)``), like the
concatenated actions of :class:`worldmodel.data.dataset.ClipDataset`.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from planners.base import Planner
from planners.protocol import Latent, WorldModel


@dataclasses.dataclass
class MPCConfig:
    """Budget and replanning rate of one episode.

    Attributes:
        steps: model steps per episode (each executes one chunk of environment actions).
        replan_every: planned steps executed between two calls of the planner (``m``).
    """

    steps: int = 20
    replan_every: int = 1

    def __post_init__(self):
        for name in ("steps", "replan_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    @property
    def replans(self) -> int:
        """How many times the planner is called in one episode: ``ceil(steps / replan_every)``."""
        return math.ceil(self.steps / self.replan_every)


@dataclasses.dataclass
class EpisodeRecord:
    """What the evaluator keeps of one episode (nothing here is ever shown to the planner).

    Attributes:
        frames: agent view ``[T + 1, H, W, 3]`` uint8, the reset frame then one per env step.
        goal: the goal image ``[H, W, 3]``.
        success: success at the end of the budget (the headline number).
        ever_success: success at any environment step.
        final_distance: ``info["distance"]`` at the end.
        distances: ``info["distance"]`` after every environment step.
        plan_ms: wall time of each ``planner.plan`` call.
        costs: the planner's best cost per iteration, one list per replan.
        actions: the executed environment actions ``[T, env_action_dim]``.
        chunk: environment actions per model step.
        imagined: the first plan's rollout decoded to pixels ``[H, h, w, 3]`` (models with a
            ``decode`` method only), else None.
    """

    frames: np.ndarray
    goal: np.ndarray
    success: bool
    ever_success: bool
    final_distance: float
    distances: list[float]
    plan_ms: list[float]
    costs: list[list[float]]
    actions: np.ndarray
    chunk: int = 1
    imagined: np.ndarray | None = None

    def summary(self) -> dict[str, Any]:
        """The JSON-friendly numbers of this episode."""
        return {"success": self.success, "ever_success": self.ever_success,
                "final_distance": self.final_distance, "plan_ms": self.plan_ms,
                "final_cost": [c[-1] for c in self.costs if c]}


def env_action_dim(env) -> int:
    """Size of one environment action (gymnasium ``Box`` action space)."""
    return int(np.prod(env.action_space.shape))


def chunk_size(model: WorldModel, env) -> int:
    """Environment actions per model step; ``ValueError`` unless the sizes divide."""
    a_env, a_model = env_action_dim(env), int(model.action_dim)
    if a_model < a_env or a_model % a_env:
        raise ValueError(f"the model's action_dim ({a_model}) must be a positive multiple of the "
                         f"env's action size ({a_env}): one model step is a chunk of env actions")
    return a_model // a_env


def _encode(model: WorldModel, pixels: np.ndarray, proprio: np.ndarray | None) -> Latent:
    with torch.no_grad():
        latent = model.encode(pixels[None], None if proprio is None else proprio[None])
    return latent.detach()


def _decode_plan(model: WorldModel, start: Latent, actions: torch.Tensor) -> np.ndarray:
    """Decode the model's imagined rollout of ``actions [H, A]`` to uint8 frames ``[H, h, w, 3]``."""
    with torch.no_grad():
        pred = model.rollout(start, actions[None].to(model.device))
        frames = model.decode(pred.z[0])
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    return np.asarray(frames, np.uint8)


def run_episode(env, model: WorldModel, planner: Planner, cfg: MPCConfig, seed: int,
                start_state: np.ndarray | None = None, goal_state: np.ndarray | None = None,
                goal_image: np.ndarray | None = None) -> EpisodeRecord:
    """Run one receding-horizon episode and record it.

    Args:
        env: a gymnasium goal env (``render_goal()``; ``info`` with ``success``/``distance``).
        model / planner: the world model and the planner searching in it.
        cfg: step budget and replanning rate.
        seed: seeds the env reset and the planner's random numbers.
        start_state / goal_state: passed to ``env.reset`` as options (the held-out pair).
        goal_image: overrides ``env.render_goal()`` as the goal given to the model.
    """
    chunk = chunk_size(model, env)
    a_env = env_action_dim(env)
    options = {k: v for k, v in (("start_state", start_state), ("goal_state", goal_state))
               if v is not None}
    obs, info = env.reset(seed=int(seed), options=options or None)
    goal = np.asarray(env.render_goal() if goal_image is None else goal_image)
    if goal.dtype != np.uint8 or goal.shape != obs["pixels"].shape:
        raise ValueError(f"the goal image must be uint8 of the observation's shape "
                         f"{obs['pixels'].shape}, got {goal.dtype} {goal.shape}")
    planner.reset(int(seed))
    goal_latent = _encode(model, goal, None)            # once per episode; goal proprio unknown
    frames, actions, distances = [obs["pixels"]], [], []
    successes: list[bool] = []                         # after each env step (not the reset)
    plan_ms: list[float] = []
    costs: list[list[float]] = []
    imagined = None
    done = 0
    while done < cfg.steps:
        start = _encode(model, obs["pixels"], obs["proprio"])
        t0 = time.perf_counter()
        result = planner.plan(model, start, goal_latent)
        plan_ms.append(1000.0 * (time.perf_counter() - t0))
        costs.append([float(c) for c in result.costs])
        plan = result.actions.detach()
        execute = min(cfg.replan_every, cfg.steps - done)
        if plan.ndim != 2 or plan.shape[1] != model.action_dim or plan.shape[0] < execute:
            raise ValueError(f"the planner returned actions {tuple(plan.shape)}; the MPC loop "
                             f"executes {execute} steps of size {model.action_dim} per replan "
                             f"(replan_every must not exceed the planner's horizon)")
        if imagined is None and hasattr(model, "decode"):
            imagined = _decode_plan(model, start, plan)
        for step in plan[:execute].cpu().numpy().astype(np.float64):
            for action in step.reshape(chunk, a_env):
                obs, _reward, _term, _trunc, info = env.step(action)
                frames.append(obs["pixels"])
                actions.append(action)
                distances.append(float(info["distance"]))
                successes.append(bool(info["success"]))
        planner.advance(execute)
        done += execute
    return EpisodeRecord(frames=np.stack(frames).astype(np.uint8), goal=goal,
                         success=successes[-1], ever_success=any(successes),
                         final_distance=float(info["distance"]), distances=distances,
                         plan_ms=plan_ms, costs=costs,
                         actions=np.asarray(actions, np.float32).reshape(-1, a_env),
                         chunk=chunk, imagined=imagined)
