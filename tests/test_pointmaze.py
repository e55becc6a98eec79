"""PointMaze: observations, determinism, goal metrics, wall contacts and maze geometry."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers wm/PointMaze-v0)
from envs.pointmaze import LAYOUTS, PointMazeEnv, free_cells, maze_distance


@pytest.fixture(scope="module")
def umaze():
    env = PointMazeEnv(layout="umaze")
    yield env
    env.close()


@pytest.fixture(scope="module")
def medium():
    env = PointMazeEnv(layout="medium")
    yield env
    env.close()


def _rollout(env, seed, steps=10):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = [obs["pixels"]]
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-1, 1, size=2))
        frames.append(obs["pixels"])
    return np.stack(frames)


def test_gym_make_observation_spaces():
    env = gym.make("wm/PointMaze-v0")
    try:
        obs, info = env.reset(seed=0)
        assert obs["pixels"].dtype == np.uint8 and obs["pixels"].shape == (64, 64, 3)
        assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (4,)
        assert env.observation_space.contains(obs)
        assert env.action_space.shape == (2,)
        assert set(info) >= {"distance", "success"}
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs["pixels"].shape == (64, 64, 3) and obs["proprio"].shape == (4,)
        # proprio is the agent's own state [x, y, vx, vy]
        np.testing.assert_allclose(obs["proprio"], env.unwrapped.get_state(), rtol=1e-6, atol=1e-6)
    finally:
        env.close()


def test_same_seed_same_frames_different_seed_different(umaze):
    a = _rollout(umaze, seed=3)
    other = PointMazeEnv(layout="umaze")
    try:
        b = _rollout(other, seed=3)
        c = _rollout(other, seed=4)
    finally:
        other.close()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_goal_image_is_rendered_goal_state(medium):
    obs, _ = medium.reset(seed=1)
    goal = medium.render_goal()
    np.testing.assert_array_equal(goal, medium.render_state(medium.goal_state))
    assert not np.array_equal(goal, obs["pixels"])
    # render_state leaves the simulation untouched
    np.testing.assert_array_equal(medium.render(), obs["pixels"])


def test_goal_metrics_known_states(umaze):
    goal = umaze.state_at(1, 1)
    umaze.reset(seed=0, options={"start_state": goal, "goal_state": goal})
    m = umaze.goal_metrics(umaze.get_state(), umaze.goal_state)
    assert m["success"] and m["distance"] == pytest.approx(0.0, abs=1e-9)
    _, reward, _, _, info = umaze.step(np.zeros(2))
    assert info["success"] and reward == 1.0
    one_away = umaze.goal_metrics(umaze.state_at(1, 2), goal)
    assert not one_away["success"] and one_away["distance"] == pytest.approx(1.0)
    near = umaze.goal_metrics(umaze.state_at(1, 1, offset=(0.3, 0.3)), goal)
    assert near["success"] and near["distance"] == pytest.approx(np.hypot(0.3, 0.3))
    assert umaze.success_threshold == 0.5


@pytest.mark.parametrize("action,axis,sign", [((1, 0), 0, 1), ((-1, 0), 0, -1),
                                              ((0, 1), 1, 1), ((0, -1), 1, -1)])
def test_constant_action_moves_ball(medium, action, axis, sign):
    # (5, 3)-(5, 6) is a horizontal corridor, (1, 1)-(6, 1) a vertical one
    start = medium.state_at(5, 4) if axis == 0 else medium.state_at(3, 1)
    medium.reset(seed=0, options={"start_state": start})
    for _ in range(2):
        medium.step(np.array(action, dtype=np.float64))
    moved = medium.get_state()[:2] - start[:2]
    assert sign * moved[axis] > 0.6          # ~0.4 cell in the first step, ~0.5 per step after
    assert abs(moved[1 - axis]) < 1e-6


def test_ball_never_enters_walls(medium):
    medium.reset(seed=5)
    rng = np.random.default_rng(5)
    action = rng.uniform(-1, 1, size=2)
    for t in range(600):
        if t % 8 == 0:  # persistent pushes so that the ball keeps hitting walls and corners
            action = np.sign(rng.uniform(-1, 1, size=2)) * rng.uniform(0.5, 1.0, size=2)
        medium.step(action)
        state = medium.get_state()
        assert medium.is_free(medium.cell_of(state)), (t, state)
        # the ball's surface stays (nearly) clear of the walls: check the four points at the
        # ball's radius along x and y, allowing a small contact penetration
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            probe = state[:2] + 0.3 * np.array([dx, dy])
            assert medium.is_free(medium.cell_of(probe)), (t, state)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_sampled_states_in_free_cells(layout, umaze, medium):
    env = umaze if layout == "umaze" else medium
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(500):
        state = env.sample_state(rng)
        assert state.shape == (4,) and np.all(state[2:] == 0.0)
        cell = env.cell_of(state)
        assert env.is_free(cell)
        # clear of the walls: the whole ball lies inside its cell
        centre = env.cell_center(*cell)
        assert np.all(np.abs(state[:2] - centre) <= 0.5 - 0.35 + 1e-9)
        seen.add(cell)
    assert seen == set(free_cells(layout))  # every free cell can be drawn


def test_cell_geometry_round_trip(medium):
    for r, c in free_cells("medium"):
        assert medium.cell_of(medium.state_at(r, c)) == (r, c)
    assert medium.cell_of(medium.state_at(1, 1))[0] < medium.cell_of(medium.state_at(6, 1))[0]


def test_maze_distance():
    # the two ends of the U are two cells apart in a straight line but six along the corridor
    assert maze_distance("umaze", (1, 1), (3, 1)) == 6
    assert maze_distance("umaze", (1, 1), (1, 1)) == 0
    assert maze_distance("umaze", (1, 1), (1, 3)) == 2
    assert maze_distance(LAYOUTS["umaze"], (3, 1), (1, 1)) == 6
    # medium: neighbours through a wall are far apart along the corridors
    assert maze_distance("medium", (1, 6), (1, 1)) == 15
    assert maze_distance("medium", (1, 4), (1, 6)) > 5
    with pytest.raises(ValueError):
        maze_distance("umaze", (0, 0), (1, 1))  # a wall


def test_all_free_cells_connected():
    for name in LAYOUTS:
        cells = free_cells(name)
        for cell in cells:
            assert maze_distance(name, cells[0], cell) >= 0


def test_wrong_action_shape_and_unknown_layout(umaze):
    umaze.reset(seed=0)
    with pytest.raises(ValueError):
        umaze.step(np.zeros(3))
    with pytest.raises(ValueError):
        umaze.step(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="umaze"):
        PointMazeEnv(layout="no-such-maze")
    with pytest.raises(ValueError):
        gym.make("wm/PointMaze-v0", layout="no-such-maze")


def test_camera_frames_whole_maze(medium):
    """The outermost pixel rows and columns are all wall colour (the border walls fill the
    frame's edge), and the free cells show floor colour at their centres."""
    medium.reset(seed=0, options={"start_state": medium.state_at(1, 1)})
    img = medium.render().astype(int)
    n = len(LAYOUTS["medium"])
    px = 64 / n
    wall = img[0, 0]
    for edge in (img[0], img[-1], img[:, 0], img[:, -1]):
        assert np.abs(edge - wall).max() <= 2
    floor = img[int(5.5 * px), int(3.5 * px)]       # free cell (5, 3)
    assert np.abs(floor - wall).sum() > 200          # high contrast floor vs wall
    ball = img[int(1.5 * px), int(1.5 * px)]         # the ball sits in cell (1, 1)
    assert np.abs(ball - floor).sum() > 200 and np.abs(ball - wall).sum() > 100
