"""Turn a stock gymnasium MuJoCo environment into a goal-conditioned task, by id.

``GymGoalEnv(id="Reacher-v5")`` borrows the stock environment's compiled model, control period
(``frame_skip``), action bounds and default camera, and exposes the same interface as the built-in
tasks: ``pixels`` + ``proprio`` observations, actions in ``[-1, 1]^A`` (mapped linearly onto the
stock bounds), a goal state with its image, and ``info["success"]`` / ``info["distance"]``.

Goal images are rendered by setting the simulator's qpos/qvel. States are sampled by running random
actions from the stock initial pose, so goals are reachable configurations. Proprio is the whole
``[qpos, qvel]`` (stock robots are the whole model; an environment with an object in its qpos would
need its own task). Distance is the Euclidean distance between qpos vectors; success is
``distance <= success_threshold`` (configurable).
"""
from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np

from envs.base import MujocoGoalEnv


class GymGoalEnv(MujocoGoalEnv):
    """A stock gymnasium MuJoCo environment as a goal-image task.

    Args:
        id: gymnasium id of a MuJoCo environment, e.g. ``"Reacher-v5"``.
        success_threshold: success when the qpos distance to the goal is at most this.
        sample_steps: random actions applied from the initial pose to sample a state.
    """

    def __init__(self, id: str = "Reacher-v5", image_size: int = 64, action_repeat: int = 1,
                 success_threshold: float = 0.1, sample_steps: int = 20, **kwargs):
        try:
            stock = gym.make(id).unwrapped
        except gym.error.Error as err:
            raise ValueError(f"env=gym: cannot make gymnasium env {id!r}: {err}") from err
        if not hasattr(stock, "model") or not hasattr(stock, "frame_skip"):
            raise ValueError(f"env=gym: {id!r} is not a gymnasium MuJoCo environment")
        self.gym_id = id
        self.action_dim = int(stock.action_space.shape[0])
        self.proprio_dim = stock.model.nq + stock.model.nv
        self.success_threshold = float(success_threshold)
        self.sample_steps = int(sample_steps)
        self._low = stock.action_space.low.astype(np.float64)
        self._high = stock.action_space.high.astype(np.float64)
        self._init_qpos = stock.init_qpos.copy()
        camera = dict(getattr(stock.mujoco_renderer, "default_cam_config", None) or {})
        super().__init__(stock.model, image_size=image_size, action_repeat=action_repeat,
                         camera=camera, substeps=stock.frame_skip, **kwargs)
        stock.close()

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        saved = self.get_state()
        start = np.concatenate([self._init_qpos, np.zeros(self.model.nv)])
        start[: self.model.nq] += rng.uniform(-0.1, 0.1, self.model.nq)
        self.set_state(start)
        for _ in range(self.sample_steps):
            self._apply_action(rng.uniform(-1.0, 1.0, self.action_dim))
            mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        state = self.get_state()
        self.set_state(saved)
        return state

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:] = self._low + (action + 1.0) * 0.5 * (self._high - self._low)

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel])

    def goal_metrics(self, state: np.ndarray, goal_state: np.ndarray) -> dict:
        nq = self.model.nq
        dist = float(np.linalg.norm(np.asarray(state)[:nq] - np.asarray(goal_state)[:nq]))
        return {"distance": dist, "success": bool(dist <= self.success_threshold)}
