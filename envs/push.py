"""Push: a disk-shaped pusher slides a T-shaped block on a walled table (a MuJoCo Push-T).

The goal is a block pose (position *and* orientation) shown as an image; where the pusher ends up
does not matter.

Table: a ``TABLE = 0.5`` m square centred on the origin, enclosed by walls (the block cannot leave
the camera's view). The fixed top-down camera ``"top"`` frames the table with world ``+x`` to the
right of the image and world ``+y`` up.

Pusher: a cylinder of radius ``PUSHER_RADIUS`` on two slide joints (x, y), driven by stiff,
critically damped position servos, so it moves where it is told within one control step unless the
block resists. Its range is clamped to the table (``PUSHER_LIMIT``), it does not touch the walls.

Block: a T (a ``BAR_LEN x BAR_WIDTH`` bar on top of a ``BAR_WIDTH x STEM_LEN`` stem, one body) on
joints slide x, slide y and hinge z placed at its centre of mass; ``theta = 0`` has the bar along
world x with the stem pointing to ``-y``. Because the block has no vertical freedom, block-table
Coulomb friction is modelled by dry friction (``frictionloss``) on its three planar joints (about
``mu * m * g`` with ``mu = 0.5``), plus a little viscous damping: the block stops within a couple of
centimetres once the pusher stops pushing, and never moves without contact. Pusher-block and
block-wall contacts are ordinary MuJoCo contacts.

Action (2,): displacement of the pusher's position target in the plane,
``target = pusher_position + MAX_DELTA * a`` (clipped to the pusher's range), with
``MAX_DELTA = 0.05`` m, i.e. 1/10 of the table width per control step at ``|a| = 1``. One control
step is ``SUBSTEPS = 20`` physics steps of 5 ms = 0.1 s of simulated time.

State (10,) = ``[qpos, qvel]`` = ``[px, py, bx, by, btheta, vpx, vpy, vbx, vby, vbtheta]``
(pusher position, block centre-of-mass position, block angle in radians, then their velocities).
``btheta`` is an unwrapped hinge angle; compare angles with :func:`wrap_angle`.

Proprio (4,): the pusher's ``[x, y, vx, vy]`` only -- never the block's pose.

Success: the block's position lies within ``POS_THRESHOLD = 0.08`` of the table width (4 cm) of the
goal position and its orientation within ``ANGLE_THRESHOLD = 0.35`` rad (20 degrees) of the goal
orientation. ``info["distance"]`` is the block position error divided by ``TABLE`` (table widths),
``info["angle_error"]`` the absolute wrapped angle difference in radians.

:class:`ScriptedPusher` is a noisy scripted exploration policy (for data collection only; it reads
the simulator state and is never a planner).
"""
from __future__ import annotations

from typing import Any

from envs import rendering  # noqa: F401  (first: sets MUJOCO_GL before mujoco is imported)

import mujoco
import numpy as np

from envs.base import MujocoGoalEnv

# ----------------------------------------------------------------------------- geometry (m)
TABLE = 0.5                    # table side; the table spans [-TABLE/2, TABLE/2]^2
HALF = TABLE / 2
WALL = 0.012                   # half thickness of the walls
PUSHER_RADIUS = 0.02
PUSHER_LIMIT = HALF - PUSHER_RADIUS - 0.005   # pusher centre range per axis (kept off the walls)
BAR_LEN, BAR_WIDTH, STEM_LEN = 0.16, 0.04, 0.12
HEIGHT = 0.02                  # block thickness
# Place the body frame at the T's centre of mass (uniform density): bar centre at +BAR_Y, stem
# centre at STEM_Y on the body's y axis.
_A_BAR, _A_STEM = BAR_LEN * BAR_WIDTH, BAR_WIDTH * STEM_LEN
BAR_Y = (BAR_WIDTH / 2 + STEM_LEN / 2) * _A_STEM / (_A_BAR + _A_STEM)
STEM_Y = BAR_Y - (BAR_WIDTH / 2 + STEM_LEN / 2)
#: the block's boxes in its own frame: (centre x, centre y, half x, half y)
BLOCK_BOXES = ((0.0, BAR_Y, BAR_LEN / 2, BAR_WIDTH / 2),
               (0.0, STEM_Y, BAR_WIDTH / 2, STEM_LEN / 2))
#: radius of the smallest circle about the centre of mass containing the whole T
BLOCK_RADIUS = float(max(np.hypot(abs(cx) + hx, abs(cy) + hy) for cx, cy, hx, hy in BLOCK_BOXES))
BLOCK_MARGIN = BLOCK_RADIUS + 0.01   # sampled block positions stay this far from the walls

# ----------------------------------------------------------------------------- physics / control
TIMESTEP = 0.005
SUBSTEPS = 20                  # physics steps per control step -> 0.1 s control period
MAX_DELTA = 0.05               # pusher target displacement per control step at |a| = 1 (m)
PUSHER_MASS = 1.0
PUSHER_KP = 2000.0             # servo stiffness (N/m); critically damped -> settles in ~0.1 s
BLOCK_DENSITY = 1000.0         # -> block mass ~ 0.22 kg
FRICTION_MU = 0.5
_BLOCK_MASS = BLOCK_DENSITY * (_A_BAR + _A_STEM) * HEIGHT
BLOCK_FRICTION = FRICTION_MU * _BLOCK_MASS * 9.81   # dry friction force on each slide joint (N)
BLOCK_TORSION = BLOCK_FRICTION * 0.05                # dry friction torque on the hinge (N m)

# ----------------------------------------------------------------------------- success
POS_THRESHOLD = 0.08           # block position error, in table widths (0.08 * 0.5 m = 4 cm)
ANGLE_THRESHOLD = 0.35         # block orientation error (rad), about 20 degrees


def wrap_angle(angle):
    """Wrap an angle (or array of angles) to ``[-pi, pi)``."""
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


_BLOCK_GEOMS = "\n".join(
    f'      <geom name="{name}" type="box" pos="{cx:.6f} {cy:.6f} {HEIGHT / 2}" '
    f'size="{hx:.6f} {hy:.6f} {HEIGHT / 2}" density="{BLOCK_DENSITY}" contype="1" conaffinity="3" '
    f'rgba="0.12 0.2 0.65 1"/>'
    for name, (cx, cy, hx, hy) in zip(("bar", "stem"), BLOCK_BOXES))

_WALL_LEN = HALF + 2 * WALL
_VIEW = TABLE + 4 * WALL      # side of the square of the table seen by the camera (m)


def _camera_xml() -> str:
    """The top-down camera: orthographic where this MuJoCo supports it (no box sides visible, the
    attribute's name changed between releases), else a distant narrow perspective camera."""
    for attr in ('projection="orthographic"', 'orthographic="true"'):
        tag = f'<camera name="top" pos="0 0 1" xyaxes="1 0 0 0 1 0" {attr} fovy="{_VIEW}"/>'
        try:
            mujoco.MjModel.from_xml_string(f"<mujoco><worldbody>{tag}</worldbody></mujoco>")
            return tag
        except ValueError:
            continue
    fovy = float(np.degrees(2 * np.arctan(_VIEW / 2 / 3.0)))
    return f'<camera name="top" pos="0 0 3" xyaxes="1 0 0 0 1 0" fovy="{fovy:.4f}"/>'


_CAMERA = _camera_xml()
_XML = f"""
<mujoco model="push">
  <compiler angle="radian"/>
  <option timestep="{TIMESTEP}" gravity="0 0 -9.81" integrator="implicitfast" cone="elliptic"/>
  <visual>
    <quality shadowsize="0" offsamples="0"/><global offwidth="512" offheight="512"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5" specular="0 0 0"/>
  </visual>
  <default>
    <geom contype="0" conaffinity="0" friction="{FRICTION_MU} 0.005 0.0001" solref="0.01 1"/>
  </default>
  <worldbody>
    {_CAMERA}
    <geom name="table" type="plane" size="{HALF + 0.1} {HALF + 0.1} 0.01" rgba="0.86 0.86 0.82 1"/>
    <geom name="wall_px" type="box" pos="{HALF + WALL} 0 0.02" size="{WALL} {_WALL_LEN} 0.02"
          contype="2" rgba="0.3 0.3 0.3 1"/>
    <geom name="wall_nx" type="box" pos="{-HALF - WALL} 0 0.02" size="{WALL} {_WALL_LEN} 0.02"
          contype="2" rgba="0.3 0.3 0.3 1"/>
    <geom name="wall_py" type="box" pos="0 {HALF + WALL} 0.02" size="{_WALL_LEN} {WALL} 0.02"
          contype="2" rgba="0.3 0.3 0.3 1"/>
    <geom name="wall_ny" type="box" pos="0 {-HALF - WALL} 0.02" size="{_WALL_LEN} {WALL} 0.02"
          contype="2" rgba="0.3 0.3 0.3 1"/>
    <body name="pusher" pos="0 0 0">
      <joint name="pusher_x" type="slide" axis="1 0 0" limited="true"
             range="{-PUSHER_LIMIT} {PUSHER_LIMIT}" damping="0.5"/>
      <joint name="pusher_y" type="slide" axis="0 1 0" limited="true"
             range="{-PUSHER_LIMIT} {PUSHER_LIMIT}" damping="0.5"/>
      <geom name="pusher" type="cylinder" pos="0 0 0.016" size="{PUSHER_RADIUS} 0.016"
            mass="{PUSHER_MASS}" contype="1" conaffinity="0" rgba="1 0.45 0 1"/>
    </body>
    <body name="block" pos="0 0 0">
      <joint name="block_x" type="slide" axis="1 0 0" frictionloss="{BLOCK_FRICTION:.6f}"
             damping="0.2"/>
      <joint name="block_y" type="slide" axis="0 1 0" frictionloss="{BLOCK_FRICTION:.6f}"
             damping="0.2"/>
      <joint name="block_theta" type="hinge" axis="0 0 1" frictionloss="{BLOCK_TORSION:.6f}"
             damping="0.005"/>
{_BLOCK_GEOMS}
    </body>
  </worldbody>
  <actuator>
    <position name="pusher_x" joint="pusher_x" kp="{PUSHER_KP}" dampratio="1" ctrllimited="true"
              ctrlrange="{-PUSHER_LIMIT} {PUSHER_LIMIT}"/>
    <position name="pusher_y" joint="pusher_y" kp="{PUSHER_KP}" dampratio="1" ctrllimited="true"
              ctrlrange="{-PUSHER_LIMIT} {PUSHER_LIMIT}"/>
  </actuator>
</mujoco>
"""


def _block_point_distance(block_pose: np.ndarray, point: np.ndarray) -> float:
    """Distance (m) from a planar ``point`` to the T at ``block_pose = (x, y, theta)``
    (0 inside)."""
    x, y, th = (float(v) for v in block_pose)
    c, s = np.cos(th), np.sin(th)
    dx, dy = point[0] - x, point[1] - y
    lx, ly = c * dx + s * dy, -s * dx + c * dy          # point in the block's frame
    best = np.inf
    for cx, cy, hx, hy in BLOCK_BOXES:
        ex = max(abs(lx - cx) - hx, 0.0)
        ey = max(abs(ly - cy) - hy, 0.0)
        best = min(best, float(np.hypot(ex, ey)))
    return best


class PushEnv(MujocoGoalEnv):
    """A pusher disk pushes a T-shaped block to a goal pose (position and orientation)."""

    action_dim = 2
    proprio_dim = 4
    goal_proprio = (("linear", (0, 1)),)      # the pusher's position
    success_threshold = POS_THRESHOLD
    long_push = 0.5       # block displacement (table widths) of a long-horizon start/goal pair
    # World models step 5 control steps at a time (DINO-WM's frameskip on Push-T): in one 0.1 s
    # step the block barely moves, and a predictor learns little beyond "nothing moves" (README).
    frameskip = 5
    exploration_policy = "scripted"   # goals of pairs=reachable: where the scripted pusher took it

    def __init__(self, image_size: int = 64, action_repeat: int = 1, **kwargs):
        super().__init__(_XML, image_size=image_size, action_repeat=action_repeat, camera="top",
                         substeps=SUBSTEPS, **kwargs)

    # ----------------------------------------------------------------- hooks
    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        """Block anywhere at least ``BLOCK_MARGIN`` from the walls at any angle; pusher anywhere in
        its range at least 2 cm clear of the block; zero velocities."""
        lim = HALF - BLOCK_MARGIN
        block = np.array([rng.uniform(-lim, lim), rng.uniform(-lim, lim),
                          rng.uniform(-np.pi, np.pi)])
        for _ in range(1000):
            pusher = rng.uniform(-PUSHER_LIMIT, PUSHER_LIMIT, size=2)
            if _block_point_distance(block, pusher) > PUSHER_RADIUS + 0.02:
                break
        else:  # pragma: no cover - the free area is far larger than the block
            raise RuntimeError("could not place the pusher clear of the block")
        return np.concatenate([pusher, block, np.zeros(5)])

    def sample_long_pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A start and a goal whose block positions are at least ``long_push`` of the table width
        apart (orientations drawn independently), so reaching the goal takes a long push."""
        for _ in range(10000):     # rejection on pairs: from a central start no goal is far
            start, goal = self.sample_state(rng), self.sample_state(rng)
            if np.linalg.norm(goal[2:4] - start[2:4]) >= self.long_push * TABLE:
                return start, goal
        raise RuntimeError("could not draw a start and goal far enough apart")  # pragma: no cover

    def _after_set_state(self) -> None:
        self.data.ctrl[:] = self.data.qpos[:2]

    def _apply_action(self, action: np.ndarray) -> None:
        target = self.data.qpos[:2] + MAX_DELTA * action
        self.data.ctrl[:] = np.clip(target, -PUSHER_LIMIT, PUSHER_LIMIT)

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]])

    def probe_targets(self, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
        s = np.asarray(states, np.float64)
        return (np.stack([s[:, 2], s[:, 3], np.cos(s[:, 4]), np.sin(s[:, 4]), s[:, 0], s[:, 1]], 1),
                ["block_x", "block_y", "cos_block", "sin_block", "pusher_x", "pusher_y"])

    def goal_metrics(self, state: np.ndarray, goal_state: np.ndarray) -> dict[str, Any]:
        state, goal_state = np.asarray(state, np.float64), np.asarray(goal_state, np.float64)
        dist = float(np.linalg.norm(state[2:4] - goal_state[2:4])) / TABLE
        angle = float(abs(wrap_angle(state[4] - goal_state[4])))
        return {"distance": dist, "angle_error": angle,
                "success": bool(dist <= POS_THRESHOLD and angle <= ANGLE_THRESHOLD)}

    # ----------------------------------------------------------------- helpers
    def block_pose(self) -> np.ndarray:
        """Current block ``(x, y, theta)`` (evaluation / scripted policies only)."""
        return self.data.qpos[2:5].copy()

    def pusher_position(self) -> np.ndarray:
        return self.data.qpos[:2].copy()


class ScriptedPusher:
    """Noisy scripted exploration policy for :class:`PushEnv` (data collection only).

    Each push draws a direction ``d`` (towards a random point of the table's interior, spread by
    Gaussian angle noise, and such that the pusher can get behind the block) and a random lateral
    offset of the contact point from the block's centre of mass (off-centre pushes rotate the
    block). The pusher first travels to a
    start point behind the block, orbiting around the block's bounding circle rather than cutting
    through it, then drives along ``d`` through the block for a random number of steps. Temporally
    correlated (Ornstein-Uhlenbeck) noise of scale ``noise`` is added to every action.

    Args:
        env: a :class:`PushEnv` (or a gymnasium wrapper around one); its simulator state is read.
        noise: stationary standard deviation of the action noise.
        seed: seed of the policy's own random generator.
    """

    def __init__(self, env, noise: float = 0.3, seed: int = 0):
        self.env = env.unwrapped if hasattr(env, "unwrapped") else env
        self.noise = float(noise)
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self._eps = np.zeros(2)
        self._phase = "plan"
        self._dir = np.zeros(2)
        self._offset = 0.0
        self._push_left = 0
        self._approach_left = 0

    # ----------------------------------------------------------------- internals
    def _plan(self, block: np.ndarray) -> None:
        centre = block[:2]
        lim = HALF - BLOCK_MARGIN
        for _ in range(20):
            # push towards a random point of the table's interior (keeps the block off the walls
            # in long episodes), with a random spread of the direction
            aim = self.rng.uniform(-lim, lim, size=2) - centre
            ang = np.arctan2(aim[1], aim[0]) + self.rng.normal(0.0, 0.6)
            d = np.array([np.cos(ang), np.sin(ang)])
            offset = self.rng.uniform(-0.6, 0.6) * BLOCK_RADIUS
            start = self._start_point(centre, d, offset)
            if np.all(np.abs(start) <= PUSHER_LIMIT - 0.005):
                break
        self._dir, self._offset = d, offset
        self._phase = "approach"
        self._approach_left = 25
        # push for about as long as it takes to carry the block to the aim point (the push starts
        # ~2 cm short of contact), plus a random extra
        steps = (np.linalg.norm(aim) + 0.02) / (0.8 * MAX_DELTA) + self.rng.uniform(0.0, 3.0)
        self._push_left = int(np.clip(round(steps), 2, 10))

    @staticmethod
    def _start_point(centre: np.ndarray, d: np.ndarray, offset: float) -> np.ndarray:
        perp = np.array([-d[1], d[0]])
        return centre + offset * perp - d * (BLOCK_RADIUS + PUSHER_RADIUS + 0.015)

    def _approach_action(self, pusher: np.ndarray, centre: np.ndarray, start: np.ndarray):
        safe = BLOCK_RADIUS + PUSHER_RADIUS + 0.01
        rel_p, rel_s = pusher - centre, start - centre
        ang_p, ang_s = np.arctan2(rel_p[1], rel_p[0]), np.arctan2(rel_s[1], rel_s[0])
        diff = float(wrap_angle(ang_s - ang_p))
        r = float(np.linalg.norm(rel_p))
        if abs(diff) > 0.5 and r < safe + 0.03:
            # orbit around the block towards the start point instead of cutting through it
            step = np.sign(diff) * min(abs(diff), 0.9)
            radius = max(r, safe + 0.02)
            target = centre + radius * np.array([np.cos(ang_p + step), np.sin(ang_p + step)])
        else:
            target = start
        return (target - pusher) / MAX_DELTA, float(np.linalg.norm(start - pusher))

    # ----------------------------------------------------------------- policy
    def __call__(self, obs=None) -> np.ndarray:
        env = self.env
        pusher = env.data.qpos[:2].copy()
        block = env.data.qpos[2:5].copy()
        if self._phase == "plan":
            self._plan(block)
        if self._phase == "approach":
            start = self._start_point(block[:2], self._dir, self._offset)
            action, err = self._approach_action(pusher, block[:2], start)
            self._approach_left -= 1
            if err < 0.015 or self._approach_left <= 0:
                self._phase = "push"
        else:
            action = self._dir * self.rng.uniform(0.6, 1.0)
            self._push_left -= 1
            if self._push_left <= 0:
                self._phase = "plan"
        # Ornstein-Uhlenbeck noise, stationary std = self.noise
        rho = 0.7
        self._eps = rho * self._eps + np.sqrt(1 - rho ** 2) * self.rng.normal(size=2)
        action = action + self.noise * self._eps
        return np.clip(action, -1.0, 1.0).astype(np.float32)
