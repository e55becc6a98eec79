"""Exploration policies used for data collection."""
import numpy as np
import pytest

from envs.policies import make_policy
from envs.registry import make_env


@pytest.fixture(scope="module")
def env():
    env = make_env("reach", image_size=16)
    yield env
    env.close()


def test_noise_policy_holds_still_at_the_requested_rate(env):
    policy = make_policy("noise", env, seed=0, hold=0.3)
    actions = np.stack([policy() for _ in range(4000)])
    still = np.all(actions == 0.0, axis=1).mean()
    assert abs(still - 0.3) < 0.03
    assert np.all(np.abs(actions) <= 1.0) and actions.std() > 0.2


def test_noise_policy_is_reproducible_and_hold_zero_never_stops(env):
    a = [make_policy("noise", env, seed=5)() for _ in range(3)]
    b = [make_policy("noise", env, seed=5)() for _ in range(3)]
    assert np.array_equal(a, b)
    policy = make_policy("noise", env, seed=1, hold=0.0)
    assert not any(np.all(policy() == 0.0) for _ in range(500))


def test_bad_policy_settings_are_refused(env):
    with pytest.raises(ValueError, match="hold must be in"):
        make_policy("noise", env, hold=1.0)
    with pytest.raises(ValueError, match="rho must be in"):
        make_policy("noise", env, rho=1.5)
