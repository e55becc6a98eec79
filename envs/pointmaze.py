"""PointMaze: a ball sliding among walls, seen from straight above; the goal is a ball position.

The maze is an ASCII grid (``'#'`` wall, ``'.'`` free) of unit cells; row 0 is the top of the
image, column 0 its left. Every length below is in cells (1 cell = 1 m of simulated space), so
``info["distance"]`` needs no conversion.

Action (2,): the desired planar velocity of the ball, ``MAX_SPEED * a`` cells/s along (x, y) with
``MAX_SPEED = 5`` (x to the right of the image, y to its top). Two velocity servos (time constant
``SERVO_TAU = 0.02`` s) track it, so one control step (``TIMESTEP * SUBSTEPS = 0.1`` s) at
``|a| = 1`` moves the ball about 0.4 cell from rest and 0.5 cell at full speed; ``a = 0`` brakes it
within one step (it drifts ~0.1 cell). Gravity is off and the ball only slides in x and y (no
rotation, no height), colliding frictionlessly with the wall boxes. The ball (radius 0.35 cell, red)
is the only thing that moves; the goal image is the same maze with the ball at the goal.

Proprio (4,) and state (4,): ``x, y, vx, vy`` (cells, cells/s; the maze centre is the origin).

Success: the ball centre lies within half a cell of the goal's (``success_threshold = 0.5``);
``info["distance"]`` is the Euclidean distance between the two centres in cells.
:func:`maze_distance` gives the shortest path in cells (BFS) to pick start/goal pairs several
corridors apart.
"""
from __future__ import annotations

from collections import deque
from typing import Sequence

import numpy as np

from envs.base import MujocoGoalEnv

CELL = 1.0            # side of a maze cell (m); all task lengths are in cells
BALL_RADIUS = 0.35    # ball radius (cells): 0.7 of a corridor's width, clearly visible at 64x64
MAX_SPEED = 5.0       # target speed at |a| = 1 (cells/s)
SERVO_TAU = 0.02      # time constant of the velocity servos (s)
BALL_MASS = 1.0       # kg
TIMESTEP = 0.005      # physics step (s)
SUBSTEPS = 20         # physics steps per applied action: control period 0.1 s
WALL_HEIGHT = 0.5     # walls reach above the ball (irrelevant to the top-down image)

#: maze layouts, ``'#'`` wall and ``'.'`` free. "umaze": the classic 5x5 U (its two ends are two
#: cells apart in a straight line, six along the corridor). "medium": 8x8 with a loop and two dead
#: ends; e.g. the top-right and top-left cells are 5 cells apart but 15 along the corridors.
LAYOUTS: dict[str, list[str]] = {
    "umaze": [
        "#####",
        "#...#",
        "###.#",
        "#...#",
        "#####",
    ],
    "medium": [
        "########",
        "#....#.#",
        "#.##.#.#",
        "#.#..#.#",
        "#.#.##.#",
        "#.#....#",
        "#...##.#",
        "########",
    ],
}

Cell = tuple[int, int]


def _grid(layout: str | Sequence[str]) -> list[str]:
    """The ASCII grid of a layout name (or of an already given grid), validated."""
    if isinstance(layout, str):
        if layout not in LAYOUTS:
            raise ValueError(f"unknown maze layout {layout!r}; known layouts: "
                             f"{', '.join(sorted(LAYOUTS))}")
        layout = LAYOUTS[layout]
    grid = [str(row) for row in layout]
    if not grid or any(len(row) != len(grid[0]) for row in grid):
        raise ValueError("a maze layout must be a non-empty list of equally long strings")
    if set("".join(grid)) - {"#", "."}:
        raise ValueError("a maze layout may only contain '#' (wall) and '.' (free)")
    return grid


def free_cells(layout: str | Sequence[str]) -> list[Cell]:
    """All free ``(row, col)`` cells of a layout, in row-major order."""
    grid = _grid(layout)
    return [(r, c) for r, row in enumerate(grid) for c, ch in enumerate(row) if ch == "."]


def maze_distance(layout: str | Sequence[str], cell_a: Cell, cell_b: Cell) -> int:
    """Shortest path length (in cells, 4-connected moves) between two free cells of ``layout``.

    ``layout`` is a name from :data:`LAYOUTS` or a grid. Raises ``ValueError`` if either cell is a
    wall or outside the grid, or if the two cells are not connected.
    """
    grid = _grid(layout)
    rows, cols = len(grid), len(grid[0])
    a, b = (int(cell_a[0]), int(cell_a[1])), (int(cell_b[0]), int(cell_b[1]))
    for cell in (a, b):
        if not (0 <= cell[0] < rows and 0 <= cell[1] < cols) or grid[cell[0]][cell[1]] != ".":
            raise ValueError(f"cell {cell} is not a free cell of the maze")
    dist = {a: 0}
    queue = deque([a])
    while queue:
        r, c = queue.popleft()
        if (r, c) == b:
            return dist[b]
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < rows and 0 <= nc < cols and grid[nr][nc] == "." and (nr, nc) not in dist:
                dist[(nr, nc)] = dist[(r, c)] + 1
                queue.append((nr, nc))
    raise ValueError(f"cells {a} and {b} are not connected")


def _wall_boxes(grid: list[str]) -> list[tuple[float, float, float]]:
    """Walls as ``(x_centre, y_centre, half_width)`` boxes, one per horizontal run of '#'."""
    rows, cols = len(grid), len(grid[0])
    boxes = []
    for r, row in enumerate(grid):
        c = 0
        while c < cols:
            if row[c] != "#":
                c += 1
                continue
            start = c
            while c < cols and row[c] == "#":
                c += 1
            x0 = (start - cols / 2) * CELL
            x1 = (c - cols / 2) * CELL
            y = (rows / 2 - r - 0.5) * CELL
            boxes.append(((x0 + x1) / 2, y, (x1 - x0) / 2))
    return boxes


def _xml(grid: list[str]) -> str:
    rows, cols = len(grid), len(grid[0])
    walls = "\n".join(
        f'    <geom name="wall{i}" type="box" pos="{x:.4f} {y:.4f} {WALL_HEIGHT / 2}" '
        f'size="{hw:.4f} {CELL / 2:.4f} {WALL_HEIGHT / 2}" class="wall"/>'
        for i, (x, y, hw) in enumerate(_wall_boxes(grid)))
    extent = max(rows, cols) * CELL
    # Perspective framing of the floor (the fallback); __init__ makes the camera orthographic.
    cam_height = 4 * extent
    fovy = 2 * np.degrees(np.arctan(extent / 2 / cam_height))
    kv = BALL_MASS / SERVO_TAU
    return f"""
<mujoco model="pointmaze">
  <compiler angle="radian"/>
  <option timestep="{TIMESTEP}" gravity="0 0 0" integrator="implicitfast"/>
  <visual><quality shadowsize="0" offsamples="0"/><global offwidth="512" offheight="512"/>
    <headlight ambient="0.4 0.4 0.4" diffuse="0.6 0.6 0.6" specular="0 0 0"/></visual>
  <asset>
    <material name="floor" rgba="0.93 0.93 0.88 1" specular="0"/>
    <material name="wall" rgba="0.15 0.2 0.35 1" specular="0"/>
    <material name="ball" rgba="0.9 0.1 0.05 1" specular="0"/>
  </asset>
  <default>
    <geom contype="0" conaffinity="0" condim="1" solref="0.01 1"/>
    <default class="wall"><geom conaffinity="1" material="wall"/></default>
  </default>
  <worldbody>
    <camera name="top" pos="0 0 {cam_height}" xyaxes="1 0 0 0 1 0" fovy="{fovy:.4f}"/>
    <geom name="floor" type="plane" size="{cols * CELL / 2} {rows * CELL / 2} {CELL}"
          material="floor"/>
{walls}
    <body name="ball" pos="0 0 {BALL_RADIUS}">
      <joint name="x" type="slide" axis="1 0 0"/>
      <joint name="y" type="slide" axis="0 1 0"/>
      <geom name="ball" type="sphere" size="{BALL_RADIUS}" mass="{BALL_MASS}" contype="1"
            material="ball"/>
    </body>
  </worldbody>
  <actuator>
    <velocity name="vx" joint="x" kv="{kv}" ctrlrange="-{MAX_SPEED} {MAX_SPEED}"/>
    <velocity name="vy" joint="y" kv="{kv}" ctrlrange="-{MAX_SPEED} {MAX_SPEED}"/>
  </actuator>
</mujoco>
"""


class PointMazeEnv(MujocoGoalEnv):
    """A ball driven by a planar velocity command through a maze, goal given as an image.

    Args:
        image_size: side of the square ``pixels`` observation.
        action_repeat: how many times each action is applied.
        layout: a name from :data:`LAYOUTS` (``"umaze"``, ``"medium"``).
        **kwargs: passed on to :class:`~envs.base.MujocoGoalEnv` (e.g. ``render_mode``).
    """

    action_dim = 2
    proprio_dim = 4
    goal_proprio = (("linear", (0, 1)),)      # the ball's position
    success_threshold = 0.5
    long_min_cells = 5    # path length (cells) of a long-horizon start/goal pair (U-maze: arm to arm)

    def __init__(self, image_size: int = 64, action_repeat: int = 1, layout: str = "umaze",
                 **kwargs):
        self.layout = layout
        self.grid = _grid(layout)
        self.rows, self.cols = len(self.grid), len(self.grid[0])
        self.free_cells = free_cells(self.grid)
        super().__init__(_xml(self.grid), image_size=image_size, action_repeat=action_repeat,
                         camera="top", substeps=SUBSTEPS, **kwargs)
        self._make_camera_orthographic()

    def _make_camera_orthographic(self) -> None:
        """Switch "top" to an orthographic projection framing exactly the whole grid, so every cell
        is a same-sized square in the image (the MJCF attribute differs between MuJoCo versions,
        the compiled-model field too; without either the perspective framing stays)."""
        cam = self.model.camera("top").id
        if hasattr(self.model, "cam_projection"):
            self.model.cam_projection[cam] = 1  # mjPROJ_ORTHOGRAPHIC
        elif hasattr(self.model, "cam_orthographic"):
            self.model.cam_orthographic[cam] = 1
        else:
            return
        self.model.cam_fovy[cam] = max(self.rows, self.cols) * CELL  # orthographic: extent (m)

    # ----------------------------------------------------------------- maze geometry
    def cell_center(self, row: int, col: int) -> np.ndarray:
        """Planar position ``(x, y)`` of the centre of cell ``(row, col)``."""
        return np.array([(col + 0.5 - self.cols / 2) * CELL, (self.rows / 2 - row - 0.5) * CELL])

    def cell_of(self, state: np.ndarray) -> Cell:
        """The ``(row, col)`` cell containing the ball of ``state`` (``[x, y, ...]``)."""
        x, y = float(state[0]), float(state[1])
        return int(np.floor(self.rows / 2 - y / CELL)), int(np.floor(x / CELL + self.cols / 2))

    def is_free(self, cell: Cell) -> bool:
        """Whether ``cell`` lies inside the grid and is not a wall."""
        r, c = cell
        return 0 <= r < self.rows and 0 <= c < self.cols and self.grid[r][c] == "."

    def state_at(self, row: int, col: int, offset: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
        """State with the ball at rest at the centre of cell ``(row, col)`` plus ``offset``."""
        x, y = self.cell_center(row, col) + np.asarray(offset, dtype=np.float64)
        return np.array([x, y, 0.0, 0.0])

    # ----------------------------------------------------------------- hooks
    def sample_state(self, rng: np.random.Generator) -> np.ndarray:
        row, col = self.free_cells[int(rng.integers(len(self.free_cells)))]
        margin = CELL / 2 - BALL_RADIUS
        return self.state_at(row, col, rng.uniform(-margin, margin, size=2))

    def sample_long_pair(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Start and goal cells at least ``long_min_cells`` apart along the corridors (in the
        U-maze: the two arms, around the bend; the straight line between them crosses a wall)."""
        far = [(a, b) for a in self.free_cells for b in self.free_cells
               if maze_distance(self.grid, a, b) >= self.long_min_cells]
        if not far:
            raise ValueError(f"maze {self.layout!r} has no two cells {self.long_min_cells} "
                             f"apart along the corridors")
        (start, goal) = far[int(rng.integers(len(far)))]
        margin = CELL / 2 - BALL_RADIUS
        return (self.state_at(*start, rng.uniform(-margin, margin, size=2)),
                self.state_at(*goal, rng.uniform(-margin, margin, size=2)))

    def _apply_action(self, action: np.ndarray) -> None:
        self.data.ctrl[:] = MAX_SPEED * action

    def _proprio(self) -> np.ndarray:
        return np.concatenate([self.data.qpos[:2], self.data.qvel[:2]])

    def probe_targets(self, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
        return np.asarray(states, np.float64)[:, :2], ["x", "y"]

    def goal_metrics(self, state: np.ndarray, goal_state: np.ndarray) -> dict:
        delta = np.asarray(state[:2], np.float64) - np.asarray(goal_state[:2], np.float64)
        dist = float(np.linalg.norm(delta)) / CELL
        return {"distance": dist, "success": bool(dist <= self.success_threshold)}
