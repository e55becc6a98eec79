"""The goal-conditioned MuJoCo task interface that every task in `envs/` implements.

A task is a gymnasium environment whose observation is ``{"pixels": uint8 HxWx3, "proprio": float32
[P]}``, whose actions live in ``Box(-1, 1, (A,))``, and whose ``info`` carries ``success`` and
``distance`` computed from simulator state. Those two keys are for the evaluator only: planners are
never handed ``info``, the reward or :meth:`get_state`.

Subclasses provide the MJCF model and five small hooks (see the abstract methods below).
"""
from __future__ import annotations

import abc
from typing import Any

from envs import rendering  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)

import gymnasium as gym
import mujoco
import numpy as np

from envs.rendering import FrameRenderer


class MujocoGoalEnv(gym.Env, abc.ABC):
    """Base class: a MuJoCo scene, a fixed camera, a goal state and its image.

    Args:
        xml: the MJCF model as a string (or an already compiled ``MjModel``).
        image_size: side of the square ``pixels`` observation.
        action_repeat: how many times each action is applied (frameskip / action chunking).
        camera: name of the fixed camera in the model, or a free-camera spec (``distance``,
            ``azimuth``, ``elevation``, ``lookat``, ``trackbodyid``) as gymnasium's MuJoCo envs use.
        substeps: physics steps per applied action (the task's own control period).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}
    action_dim: int
    proprio_dim: int
    #: the evaluator's success threshold on ``info["distance"]`` (task units, documented per task).
    success_threshold: float
    #: environment steps per world-model step that ``wm train`` uses unless told ``stride=N``
    #: (the actions in between form one action chunk; 1: every control step is a model step).
    frameskip: int = 1
    #: exploration policy (an ``envs.policies.make_policy`` name) that draws the goals of
    #: ``sample_reachable_pair`` (``pairs=reachable``)
    exploration_policy: str = "noise"
    #: the proprio a goal pose pins down, for a planner's proprio cost term: ``(kind, dims)``
    #: pairs; ``"linear"`` dims are compared as they are, an ``"angle"`` pair ``(cos, sin)`` of a
    #: joint with limits as the angle itself (whose distance falls all the way along the joint's
    #: range, where the cos/sin distance can point across the limit). Empty: none (no readout).
    goal_proprio: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def __init__(self, xml: str | mujoco.MjModel, image_size: int = 64, action_repeat: int = 1,
                 camera: str | dict = "top", substeps: int = 1,
                 render_mode: str | None = "rgb_array"):
        if int(image_size) < 8:
            raise ValueError(f"image_size must be at least 8 pixels, got {image_size}")
        if int(action_repeat) < 1:
            raise ValueError(f"action_repeat must be a positive integer, got {action_repeat}")
        self.model = xml if isinstance(xml, mujoco.MjModel) else mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self.image_size = int(image_size)
        self.action_repeat = int(action_repeat)
        self.substeps = int(substeps)
        self.render_mode = render_mode
        self._frames = FrameRenderer(self.model, self.image_size, self.image_size, camera)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        self.observation_space = gym.spaces.Dict({
            "pixels": gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8),
            "proprio": gym.spaces.Box(-np.inf, np.inf, (self.proprio_dim,), np.float32),
        })
        self.goal_state: np.ndarray | None = None
        self._goal_image: np.ndarray | None = None

    # ----------------------------------------------------------------- hooks for subclasses
    @abc.abstractmethod
    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """A valid simulator state (``get_state`` layout) drawn from ``rng``."""

    @abc.abstractmethod
    def _apply_action(self, action: np.ndarray) -> None:
        """Write one clipped action into ``self.data`` (controls, targets) before physics runs."""

    @abc.abstractmethod
    def _proprio(self) -> np.ndarray:
        """The agent's own state (never an object's pose)."""

    @abc.abstractmethod
    def goal_metrics(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, Any]:
        """``{"distance": float, "success": bool, ...}`` between two simulator states."""

    def sample_long_pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A start/goal state pair far apart for this task (long-horizon evaluation sets).

        Tasks that define "far" override this; the default refuses, so a long-horizon evaluation
        of a task without one fails loudly instead of silently drawing ordinary pairs."""
        raise NotImplementedError(f"{type(self).__name__} has no long-horizon start/goal sampler "
                                  f"(pairs=long is available for pointmaze and push)")

    def sample_reachable_pair(self, rng: np.random.Generator, steps: int = 25,
                              tries: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """A start drawn by ``sample_state`` and the goal that the task's exploration policy
        (``exploration_policy`` with its class defaults: correlated noise, on Push the scripted
        pusher) reaches from it in ``steps`` control steps, velocities zeroed: goals on the kind
        of trajectories the data holds, as DINO-WM draws them. Pairs whose start already
        satisfies the goal are redrawn (up to ``tries`` times). Leaves the simulator at the goal;
        callers reset."""
        from envs.policies import make_policy

        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"reachable pairs need a positive number of steps, got {steps!r}")
        for _ in range(tries):
            start = self.sample_state(rng)
            self.set_state(start)
            policy = make_policy(self.exploration_policy, self, seed=int(rng.integers(2**31)))
            for _ in range(steps):
                self._advance(policy(None))
            goal = self.get_state()
            goal[self.model.nq:] = 0.0
            if not self.goal_metrics(start, goal)["success"]:
                return start, goal
        raise RuntimeError(f"{type(self).__name__}: the {self.exploration_policy!r} policy left "
                           f"the goal satisfied at the start in {tries} tries of {steps} steps")

    def probe_targets(self, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """What a frozen-feature probe regresses from frames: ``([N, K] targets, K names)``
        computed from simulator states ``[N, S]``. Default: the positions ``qpos``. Angles are
        given as cos/sin so that the regression has no wrap-around."""
        states = np.asarray(states, np.float64)
        return states[:, : self.model.nq], [f"qpos{i}" for i in range(self.model.nq)]

    # ----------------------------------------------------------------- simulator state
    @property
    def state_dim(self) -> int:
        return self.model.nq + self.model.nv

    def get_state(self) -> np.ndarray:
        """Full simulator state ``[qpos, qvel]`` as float64 (for evaluation and probes only)."""
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape[0] != self.state_dim:
            raise ValueError(f"{type(self).__name__}: state must have {self.state_dim} entries, "
                             f"got {state.shape[0]}")
        nq = self.model.nq
        self.data.qpos[:] = state[:nq]
        self.data.qvel[:] = state[nq:]
        self.data.ctrl[:] = 0.0
        self._after_set_state()
        mujoco.mj_forward(self.model, self.data)

    def _after_set_state(self) -> None:
        """Hook: e.g. align actuator targets with a freshly set pose."""

    # ----------------------------------------------------------------- images
    def render(self) -> np.ndarray:
        return self._frames.render(self.data)

    def render_state(self, state: np.ndarray) -> np.ndarray:
        """Render ``state`` without disturbing the current simulation."""
        saved = self.get_state()
        self.set_state(state)
        image = self.render()
        self.set_state(saved)
        return image

    def render_goal(self) -> np.ndarray:
        """The goal image of the current episode (what planners are given as the goal)."""
        if self._goal_image is None:
            raise RuntimeError("render_goal() called before reset()")
        return self._goal_image.copy()

    # ----------------------------------------------------------------- gymnasium API
    def _observation(self) -> dict[str, np.ndarray]:
        return {"pixels": self.render(), "proprio": self._proprio().astype(np.float32)}

    def _info(self) -> dict[str, Any]:
        return dict(self.goal_metrics(self.get_state(), self.goal_state))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode. ``options`` may hold ``start_state`` and/or ``goal_state``; the missing
        ones are sampled from the seeded ``np_random``."""
        super().reset(seed=seed)
        options = options or {}
        start = options.get("start_state")
        goal = options.get("goal_state")
        start = self.sample_state(self.np_random) if start is None else np.asarray(start, np.float64)
        goal = self.sample_state(self.np_random) if goal is None else np.asarray(goal, np.float64)
        self.set_state(goal)
        self.goal_state = self.get_state()
        self._goal_image = self.render()
        self.set_state(start)
        return self._observation(), self._info()

    def step(self, action):
        if self.goal_state is None:
            raise RuntimeError("step() called before reset()")
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.action_dim,):
            raise ValueError(f"{type(self).__name__}: action must have shape ({self.action_dim},), "
                             f"got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"{type(self).__name__}: action contains NaN or inf: {action}")
        self._advance(action)
        info = self._info()
        return self._observation(), float(info["success"]), False, False, info

    def _advance(self, action: np.ndarray) -> None:
        """Run the physics of one control step under ``action`` (clipped to ``[-1, 1]``)."""
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        for _ in range(self.action_repeat):
            self._apply_action(action)
            mujoco.mj_step(self.model, self.data, nstep=self.substeps)

    def close(self) -> None:
        self._frames.close()
