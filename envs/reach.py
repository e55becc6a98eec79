"""Reach: a planar two-link arm seen from above; the goal is a whole-arm pose shown as an image.

Action (2,): change of the joint position targets, ``delta = MAX_DELTA * a`` radians per applied
action (``MAX_DELTA = 0.5``). Stiff, critically damped position servos settle the arm on its new
target within one control step (0.1 s of simulated time).

Proprio (6,): ``cos q1, sin q1, cos q2, sin q2, dq1, dq2``. State (4,): ``q1, q2, dq1, dq2``.

Success: the end-effector lies within 10% of the arm's total reach (0.24 m) of the goal pose's
end-effector, like dm_control reacher-hard's target-to-reach ratio. ``info["distance"]`` is that
end-effector distance divided by the total reach, so the 5% and 25% thresholds can be read off too.
"""
from __future__ import annotations

import numpy as np

from envs.base import MujocoGoalEnv

LINK = 0.12           # length of each link (m)
REACH = 2 * LINK      # total reach of the arm
MAX_DELTA = 0.5       # joint-target change per applied action at |a| = 1 (rad)
ELBOW_LIMIT = 2.6     # elbow range (rad), keeps the two links from folding onto each other

_XML = f"""
<mujoco model="reach">
  <compiler angle="radian"/>
  <option timestep="0.005" gravity="0 0 0" integrator="implicitfast"/>
  <visual><quality shadowsize="0" offsamples="0"/><global offwidth="512" offheight="512"/></visual>
  <default>
    <geom contype="0" conaffinity="0"/>
    <joint damping="0.05" armature="0.002"/>
  </default>
  <worldbody>
    <light pos="0 0 1" dir="0 0 -1" directional="true" diffuse="0.8 0.8 0.8" ambient="0.3 0.3 0.3"/>
    <camera name="top" pos="0 0 0.62" xyaxes="1 0 0 0 1 0" fovy="50"/>
    <geom name="floor" type="plane" size="0.4 0.4 0.4" rgba="0.92 0.92 0.88 1"/>
    <geom name="base" type="cylinder" pos="0 0 0.01" size="0.03 0.01" rgba="0.2 0.2 0.2 1"/>
    <body name="upper" pos="0 0 0.03">
      <joint name="shoulder" type="hinge" axis="0 0 1"/>
      <geom name="upper" type="capsule" fromto="0 0 0 {LINK} 0 0" size="0.026" rgba="0.85 0.1 0.1 1"/>
      <body name="lower" pos="{LINK} 0 0.01">
        <joint name="elbow" type="hinge" axis="0 0 1" limited="true" range="-{ELBOW_LIMIT} {ELBOW_LIMIT}"/>
        <geom name="lower" type="capsule" fromto="0 0 0 {LINK} 0 0" size="0.022" rgba="0.1 0.25 0.9 1"/>
        <site name="tip" pos="{LINK} 0 0" size="0.01"/>
        <geom name="hand" type="sphere" pos="{LINK} 0 0.005" size="0.03" rgba="0.1 0.1 0.1 1"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <position name="shoulder" joint="shoulder" kp="400" dampratio="1"/>
    <position name="elbow" joint="elbow" kp="200" dampratio="1"/>
  </actuator>
</mujoco>
"""


def end_effector(state: np.ndarray) -> np.ndarray:
    """Planar end-effector position (m) of a Reach state ``[q1, q2, ...]``."""
    q1, q2 = float(state[0]), float(state[1])
    return np.array([LINK * np.cos(q1) + LINK * np.cos(q1 + q2),
                     LINK * np.sin(q1) + LINK * np.sin(q1 + q2)])


class ReachEnv(MujocoGoalEnv):
    """Planar two-link arm reaching a goal pose given as an image."""

    action_dim = 2
    proprio_dim = 6
    # the shoulder turns freely (its cos/sin as they are), the elbow stops at +-ELBOW_LIMIT
    goal_proprio = (("linear", (0, 1)), ("angle", (2, 3)))
    success_threshold = 0.10

    def __init__(self, image_size: int = 64, action_repeat: int = 1, **kwargs):
        super().__init__(_XML, image_size=image_size, action_repeat=action_repeat, camera="top",
                         substeps=20, **kwargs)

    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        q1 = rng.uniform(-np.pi, np.pi)
        q2 = rng.uniform(-ELBOW_LIMIT + 0.1, ELBOW_LIMIT - 0.1)
        return np.array([q1, q2, 0.0, 0.0])

    def _after_set_state(self) -> None:
        self.data.ctrl[:] = self.data.qpos[:2]

    def _apply_action(self, action: np.ndarray) -> None:
        target = self.data.qpos[:2] + MAX_DELTA * action
        target[1] = np.clip(target[1], -ELBOW_LIMIT, ELBOW_LIMIT)
        self.data.ctrl[:] = target

    def _proprio(self) -> np.ndarray:
        q, dq = self.data.qpos[:2], self.data.qvel[:2]
        return np.array([np.cos(q[0]), np.sin(q[0]), np.cos(q[1]), np.sin(q[1]), dq[0], dq[1]])

    def probe_targets(self, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
        q = np.asarray(states, np.float64)[:, :2]
        return (np.stack([np.cos(q[:, 0]), np.sin(q[:, 0]), np.cos(q[:, 1]), np.sin(q[:, 1])], 1),
                ["cos_shoulder", "sin_shoulder", "cos_elbow", "sin_elbow"])

    def goal_metrics(self, state: np.ndarray, goal_state: np.ndarray) -> dict:
        dist = float(np.linalg.norm(end_effector(state) - end_effector(goal_state))) / REACH
        return {"distance": dist, "success": bool(dist <= self.success_threshold)}
