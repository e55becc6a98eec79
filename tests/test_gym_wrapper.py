"""A stock gymnasium MuJoCo environment used as a goal-image task through ``env=gym``."""
import numpy as np
import pytest

from envs import make_env


def test_stock_reacher_as_a_goal_task():
    env = make_env("gym", id="Reacher-v5", image_size=48)
    obs, info = env.reset(seed=0)
    assert obs["pixels"].shape == (48, 48, 3) and obs["pixels"].dtype == np.uint8
    assert obs["proprio"].shape == (env.model.nq + env.model.nv,)
    assert env.action_space.shape == (2,)
    # the goal image is a render of the goal state set through qpos/qvel
    assert np.array_equal(env.render_goal(), env.render_state(env.goal_state))
    assert not np.array_equal(env.render_goal(), obs["pixels"])
    # actions move the robot and the distance reacts
    before = env.get_state()
    obs, _, _, _, info2 = env.step(np.ones(2))
    assert not np.allclose(env.get_state(), before)
    assert info2["distance"] != info["distance"]


def test_same_seed_same_frames_and_success_at_the_goal():
    def frames(seed):
        env = make_env("gym", id="Reacher-v5")
        out = [env.reset(seed=seed)[0]["pixels"]]
        out += [env.step(np.full(2, 0.5))[0]["pixels"] for _ in range(3)]
        return np.stack(out)

    assert np.array_equal(frames(1), frames(1))
    env = make_env("gym", id="Reacher-v5")
    env.reset(seed=0)
    _, info = env.reset(seed=0, options={"start_state": env.goal_state,
                                         "goal_state": env.goal_state})
    assert info["success"] and info["distance"] == pytest.approx(0.0)


def test_actions_are_mapped_onto_the_stock_bounds():
    env = make_env("gym", id="InvertedPendulum-v5")  # stock bounds are [-3, 3]
    env.reset(seed=0)
    env._apply_action(np.array([1.0]))
    assert env.data.ctrl[0] == pytest.approx(3.0)
    env._apply_action(np.array([-1.0]))
    assert env.data.ctrl[0] == pytest.approx(-3.0)
    with pytest.raises(ValueError, match=r"shape \(1,\)"):
        env.step(np.zeros(2))


def test_unknown_or_non_mujoco_ids_are_refused():
    with pytest.raises(ValueError, match="cannot make gymnasium env"):
        make_env("gym", id="NoSuchEnv-v0")
    with pytest.raises(ValueError, match="not a gymnasium MuJoCo environment"):
        make_env("gym", id="CartPole-v1")
