"""The Reach task: determinism, goal images, success on known states, control, bad input."""
import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers wm/* ids)
from envs import make_env
from envs.reach import ELBOW_LIMIT, LINK, MAX_DELTA, REACH, ReachEnv, end_effector


def rollout_frames(seed, steps=8):
    env = make_env("reach")
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = [obs["pixels"]]
    for _ in range(steps):
        obs, *_ = env.step(rng.uniform(-1, 1, 2))
        frames.append(obs["pixels"])
    return np.stack(frames)


def test_registered_with_gymnasium_and_observation_layout():
    env = gym.make("wm/Reach-v0")
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (64, 64, 3) and obs["pixels"].dtype == np.uint8
    assert obs["proprio"].shape == (6,) and obs["proprio"].dtype == np.float32
    assert {"success", "distance"} <= set(info)
    assert env.action_space.shape == (2,)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)


def test_same_seed_same_frames_and_different_seed_different_frames():
    a, b, c = rollout_frames(5), rollout_frames(5), rollout_frames(6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 10  # the arm is visible, not a blank image


def test_goal_image_is_a_render_of_the_goal_state():
    env = ReachEnv()
    obs, _ = env.reset(seed=1)
    goal = env.render_goal()
    assert np.array_equal(goal, env.render_state(env.goal_state))
    assert not np.array_equal(goal, obs["pixels"])
    # rendering the goal did not disturb the simulation
    assert np.array_equal(obs["pixels"], env.render())


def test_success_and_distance_on_known_states():
    env = ReachEnv()
    goal = np.array([0.3, 1.0, 0.0, 0.0])
    _, info = env.reset(seed=0, options={"start_state": goal, "goal_state": goal})
    assert info["success"] and info["distance"] == pytest.approx(0.0, abs=1e-9)
    # straight arm at 0 vs straight arm at pi: end-effectors 2 * REACH apart
    far = env.goal_metrics(np.array([np.pi, 0, 0, 0]), np.array([0.0, 0, 0, 0]))
    assert far["distance"] == pytest.approx(2.0) and not far["success"]
    # elbow bent so the end-effector moves just under / over 10% of the reach
    for angle, expected in [(0.19, True), (0.22, False)]:
        state = np.array([0.0, angle, 0, 0])
        d = np.linalg.norm(end_effector(state) - end_effector(np.zeros(4))) / REACH
        m = env.goal_metrics(state, np.zeros(4))
        assert m["distance"] == pytest.approx(d) and m["success"] is expected
    assert np.allclose(end_effector(np.zeros(4)), [2 * LINK, 0])


def test_arm_settles_on_its_joint_targets_within_one_step():
    env = ReachEnv()
    for seed in range(10):
        env.reset(seed=seed)
        q0 = env.data.qpos.copy()
        action = np.random.default_rng(seed).uniform(-1, 1, 2)
        env.step(action)
        target = q0 + MAX_DELTA * action
        target[1] = np.clip(target[1], -ELBOW_LIMIT, ELBOW_LIMIT)
        assert np.abs(env.data.qpos - target).max() < 0.01
        assert np.abs(env.data.qvel).max() < 0.2


def test_action_repeat_applies_the_action_several_times():
    one, three = ReachEnv(action_repeat=1), ReachEnv(action_repeat=3)
    start = np.array([0.0, 0.0, 0, 0])
    one.reset(seed=0, options={"start_state": start})
    three.reset(seed=0, options={"start_state": start})
    one.step(np.array([0.5, 0.0]))
    three.step(np.array([0.5, 0.0]))
    assert three.data.qpos[0] == pytest.approx(3 * one.data.qpos[0], rel=0.05)


def test_bad_actions_and_states_are_refused():
    env = ReachEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="4 entries"):
        env.set_state(np.zeros(5))
    with pytest.raises(ValueError, match="unknown env 'nope'"):
        make_env("nope")


def test_sampled_states_cover_the_workspace():
    env = ReachEnv()
    rng = np.random.default_rng(0)
    states = np.stack([env.sample_state(rng) for _ in range(300)])
    assert np.all(np.abs(states[:, 1]) < ELBOW_LIMIT)
    assert states[:, 0].min() < -2.5 and states[:, 0].max() > 2.5
