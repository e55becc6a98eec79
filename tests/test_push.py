"""Behaviour of the Push task (`envs/push.py`): API, determinism, goal metrics, contact physics and
the scripted exploration policy."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers wm/Push-v0)
from envs.push import (ANGLE_THRESHOLD, MAX_DELTA, POS_THRESHOLD, TABLE, PushEnv, ScriptedPusher,
                       wrap_angle)


def _state(pusher, block, vel=None):
    vel = np.zeros(5) if vel is None else np.asarray(vel, float)
    return np.concatenate([np.asarray(pusher, float), np.asarray(block, float), vel])


@pytest.fixture(scope="module")
def env():
    e = PushEnv(image_size=64)
    yield e
    e.close()


def test_gym_make_observation_and_proprio():
    e = gym.make("wm/Push-v0")
    obs, info = e.reset(seed=0)
    assert obs["pixels"].dtype == np.uint8 and obs["pixels"].shape == (64, 64, 3)
    assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (4,)
    assert e.observation_space.contains(obs)
    assert e.action_space.shape == (2,)
    base = e.unwrapped
    assert base.state_dim == 10
    assert {"distance", "angle_error", "success"} <= set(info)
    obs, reward, terminated, truncated, info = e.step(np.array([0.5, -0.3], np.float32))
    qpos, qvel = base.data.qpos, base.data.qvel
    np.testing.assert_allclose(obs["proprio"], np.r_[qpos[:2], qvel[:2]].astype(np.float32))
    # the proprio is the pusher's only: moving the block alone leaves it unchanged
    state = base.get_state()
    moved = state.copy()
    moved[2:5] += [0.03, -0.02, 0.7]
    base.set_state(moved)
    np.testing.assert_array_equal(base._proprio(), base.get_state()[[0, 1, 5, 6]])
    np.testing.assert_array_equal(base._proprio(), state[[0, 1, 5, 6]])
    e.close()


def test_same_seed_same_frames_different_seed_differs():
    def rollout(seed):
        e = PushEnv()
        obs, _ = e.reset(seed=seed)
        rng = np.random.default_rng(123)
        frames = [obs["pixels"], e.render_goal()]
        for _ in range(10):
            obs, *_ = e.step(rng.uniform(-1, 1, 2))
            frames.append(obs["pixels"])
        e.close()
        return np.stack(frames), obs["proprio"]

    a, pa = rollout(7)
    b, pb = rollout(7)
    c, _ = rollout(8)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pa, pb)
    assert not np.array_equal(a, c)


def test_goal_image_is_render_of_goal_state(env):
    env.reset(seed=3)
    goal = env.render_goal()
    np.testing.assert_array_equal(goal, env.render_state(env.goal_state))
    assert not np.array_equal(goal, env.render())
    # options fix the goal too
    goal_state = _state([0.2, -0.2], [0.05, 0.0, 1.0])
    env.reset(seed=4, options={"goal_state": goal_state})
    np.testing.assert_array_equal(env.goal_state, goal_state)
    np.testing.assert_array_equal(env.render_goal(), env.render_state(goal_state))


def test_pixels_show_block_orientation(env):
    """Different block angles at the same position give clearly different frames."""
    a = env.render_state(_state([0.2, 0.2], [0.0, 0.0, 0.0]))
    b = env.render_state(_state([0.2, 0.2], [0.0, 0.0, np.pi / 2]))
    c = env.render_state(_state([0.2, 0.2], [0.0, 0.0, np.pi]))
    for x, y in ((a, b), (a, c), (b, c)):
        assert np.mean(np.any(x != y, axis=-1)) > 0.02


def test_goal_metrics_known_states(env):
    goal = _state([0.0, 0.0], [0.05, -0.03, 0.4])
    same = _state([0.2, -0.2], [0.05, -0.03, 0.4])          # pusher elsewhere: irrelevant
    m = env.goal_metrics(same, goal)
    assert m["success"] and m["distance"] == pytest.approx(0.0) and m["angle_error"] < 1e-9
    assert env.success_threshold == POS_THRESHOLD

    shift = 1.2 * POS_THRESHOLD * TABLE
    shifted = _state([0.0, 0.0], [0.05 + shift, -0.03, 0.4])
    m = env.goal_metrics(shifted, goal)
    assert not m["success"] and m["distance"] == pytest.approx(1.2 * POS_THRESHOLD)

    near = _state([0.0, 0.0], [0.05 + 0.5 * shift, -0.03, 0.4 + 0.5 * ANGLE_THRESHOLD])
    assert env.goal_metrics(near, goal)["success"]

    rotated = _state([0.0, 0.0], [0.05, -0.03, 0.4 + np.pi / 4])
    m = env.goal_metrics(rotated, goal)
    assert not m["success"] and m["angle_error"] == pytest.approx(np.pi / 4)

    # angles are compared modulo 2 pi
    wrapped = _state([0.0, 0.0], [0.05, -0.03, 0.4 - 2 * np.pi + 0.1])
    m = env.goal_metrics(wrapped, goal)
    assert m["success"] and m["angle_error"] == pytest.approx(0.1)
    assert wrap_angle(3 * np.pi) == pytest.approx(-np.pi)


def test_info_success_from_simulator(env):
    goal = _state([0.2, 0.2], [-0.05, 0.05, -0.5])
    env.reset(seed=0, options={"start_state": _state([-0.2, -0.2], [-0.05, 0.05, -0.5]),
                               "goal_state": goal})
    _, reward, _, _, info = env.step(np.zeros(2))      # pusher far from the block
    assert info["success"] and reward == 1.0


def test_sample_state_valid(env):
    rng = np.random.default_rng(0)
    for _ in range(50):
        s = env.sample_state(rng)
        assert s.shape == (10,)
        assert np.all(s[5:] == 0)
        assert np.all(np.abs(s[2:4]) < TABLE / 2 - 0.1)
        env.set_state(s)
        assert env.data.ncon == 0        # pusher does not overlap the block, block off the walls


def test_pusher_follows_actions(env):
    env.reset(seed=0, options={"start_state": _state([-0.15, -0.15], [0.1, 0.1, 0.0])})
    p0 = env.data.qpos[:2].copy()
    for _ in range(3):
        env.step(np.array([1.0, 0.0]))
    moved = env.data.qpos[:2] - p0
    assert moved[0] == pytest.approx(3 * MAX_DELTA, rel=0.1)
    assert abs(moved[1]) < 1e-6
    # the pusher cannot leave the table
    for _ in range(20):
        env.step(np.array([-1.0, -1.0]))
    assert np.all(np.abs(env.data.qpos[:2]) < TABLE / 2)


def test_pushing_moves_block_and_friction_holds_it(env):
    # pusher just below the stem, driving up into it: the block moves up
    start = _state([0.0, -0.17], [0.0, 0.0, 0.0])
    env.reset(seed=0, options={"start_state": start})
    for _ in range(5):
        env.step(np.array([0.0, 1.0]))
    block = env.data.qpos[2:5].copy()
    assert block[1] > 0.05
    assert abs(block[0]) < 0.01
    # once the pusher backs off the block comes to rest and stays there
    for _ in range(3):
        env.step(np.array([0.0, -1.0]))
    rest = env.data.qpos[2:5].copy()
    for _ in range(5):
        env.step(np.zeros(2))
    np.testing.assert_allclose(env.data.qpos[2:5], rest, atol=1e-4)

    # an off-centre push rotates the block
    env.reset(seed=0, options={"start_state": _state([0.06, -0.17], [0.0, 0.0, 0.0])})
    for _ in range(5):
        env.step(np.array([0.0, 1.0]))
    assert abs(env.data.qpos[4]) > np.radians(10)

    # without contact the block stays put although the pusher moves around
    start = _state([-0.2, -0.2], [0.1, 0.1, 0.3])
    env.reset(seed=0, options={"start_state": start})
    travel = 0.0
    for a in ([1, 0], [1, 0], [-1, 0], [0, 1], [0, 1], [0, -1], [-1, -1]):
        env.step(np.array(a, float))
        travel = max(travel, float(np.linalg.norm(env.data.qpos[:2] - start[:2])))
    assert travel > 0.08
    np.testing.assert_array_equal(env.data.qpos[2:5], start[2:5])


def test_block_stays_inside_table(env):
    # drive the block hard into a wall: it stops at the wall
    env.reset(seed=0, options={"start_state": _state([0.0, -0.12], [0.0, 0.05, 0.0])})
    for _ in range(15):
        env.step(np.array([0.0, 1.0]))
    assert env.data.qpos[3] < TABLE / 2
    assert np.all(np.isfinite(env.get_state()))


def test_scripted_pusher_moves_block():
    e = PushEnv()
    policy = ScriptedPusher(e, noise=0.3, seed=0)
    moved = 0
    for ep in range(20):
        obs, _ = e.reset(seed=100 + ep)
        policy.reset(seed=ep)
        b0 = e.data.qpos[2:5].copy()
        for _ in range(50):
            action = policy(obs)
            assert action.shape == (2,) and np.all(np.abs(action) <= 1.0)
            obs, *_ = e.step(action)
        b1 = e.data.qpos[2:5]
        disp = np.linalg.norm(b1[:2] - b0[:2])
        rot = abs(wrap_angle(b1[2] - b0[2]))
        moved += bool(disp > 0.05 * TABLE or rot > np.radians(10))
    e.close()
    assert moved >= 16


def test_scripted_pusher_deterministic_and_wrapped_env():
    def actions(seed):
        e = gym.make("wm/Push-v0")
        obs, _ = e.reset(seed=1)
        policy = ScriptedPusher(e, seed=seed)
        out = []
        for _ in range(15):
            a = policy(obs)
            out.append(a)
            obs, *_ = e.step(a)
        e.close()
        return np.stack(out)

    np.testing.assert_array_equal(actions(0), actions(0))
    assert not np.array_equal(actions(0), actions(1))


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((1, 2)), np.zeros(1),
                                 np.array([np.nan, 0.0])])
def test_bad_action_raises(env, bad):
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(bad)
