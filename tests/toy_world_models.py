"""Small analytic world models implementing :class:`planners.protocol.WorldModel`, for tests.

:class:`LinearWorldModel` has dynamics ``z_{t+1} = A z_t + B a_t``; with the L2 cost its planning
problem is a least-squares problem in the stacked actions, solved exactly by
:func:`linear_optimum` (unconstrained) and :func:`box_optimum` (within bounds).
"""
from __future__ import annotations

import numpy as np
import torch

from planners.protocol import Latent, check_actions


class LinearWorldModel:
    """``z_{t+1} = A z_t + B a_t``; ``encode`` is the identity on a float ``[B, dz]`` tensor.

    Attributes:
        rollouts: how many times :meth:`rollout` was called.
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor, device: str = "cpu"):
        self.A = torch.as_tensor(A, dtype=torch.float32, device=device)
        self.B = torch.as_tensor(B, dtype=torch.float32, device=device)
        self.action_dim = self.B.shape[1]
        self.device = torch.device(device)
        self.rollouts = 0

    def encode(self, pixels: np.ndarray | torch.Tensor,
               proprio: np.ndarray | torch.Tensor | None = None) -> Latent:
        return Latent(torch.as_tensor(pixels, dtype=torch.float32, device=self.device))

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        check_actions(actions, self.action_dim)
        self.rollouts += 1
        z = start.z.expand(actions.shape[0], -1)
        states = []
        for t in range(actions.shape[1]):
            z = z @ self.A.T + actions[:, t] @ self.B.T
            states.append(z)
        return Latent(torch.stack(states, 1))


class ExplodingWorldModel(LinearWorldModel):
    """A model double whose rollout must not be called."""

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        raise AssertionError("rollout() was called")


def stacked_system(model: LinearWorldModel, z0: torch.Tensor, goal: torch.Tensor, horizon: int,
                   reduce: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``M, r`` (float64) with L2 cost ``mean((M a - r)^2)`` for the flattened actions ``a``.

    Row block ``t`` is ``z_t - goal = sum_{k<=t} A^{t-k} B a_k - (goal - A^{t+1} z0)``; with
    ``reduce="final"`` only the last block is kept.
    """
    A, B = model.A.double().cpu(), model.B.double().cpu()
    z0, goal = z0.double().reshape(-1), goal.double().reshape(-1)
    dz, da = B.shape
    powers = [torch.eye(dz, dtype=torch.float64)]
    for _ in range(horizon):
        powers.append(A @ powers[-1])
    M = torch.zeros(horizon * dz, horizon * da, dtype=torch.float64)
    r = torch.zeros(horizon * dz, dtype=torch.float64)
    for t in range(horizon):
        for k in range(t + 1):
            M[t * dz:(t + 1) * dz, k * da:(k + 1) * da] = powers[t - k] @ B
        r[t * dz:(t + 1) * dz] = goal - powers[t + 1] @ z0
    if reduce == "final":
        M, r = M[-dz:], r[-dz:]
    return M, r


def linear_optimum(model: LinearWorldModel, z0: torch.Tensor, goal: torch.Tensor, horizon: int,
                   reduce: str = "sum", hold: int | tuple[int, ...] = 1
                   ) -> tuple[torch.Tensor, float]:
    """Unconstrained optimal actions ``[H, A]`` and their L2 cost (least squares); with
    ``hold > 1`` among sequences whose actions are each held for ``hold`` steps, with a tuple
    among sequences held in blocks of those lengths."""
    M, r = stacked_system(model, z0, goal, horizon, reduce)
    da = model.B.shape[1]
    lengths = hold if isinstance(hold, tuple) else (hold,) * -(-horizon // hold)
    block_of_step = torch.repeat_interleave(torch.arange(len(lengths)),
                                            torch.tensor(lengths))[:horizon]
    blocks = torch.zeros(horizon, len(lengths), dtype=torch.float64)
    blocks[torch.arange(horizon), block_of_step] = 1.0
    E = torch.kron(blocks, torch.eye(da, dtype=torch.float64))   # held actions -> the sequence
    a = E @ torch.linalg.lstsq(M @ E, r[:, None]).solution[:, 0]
    return a.reshape(horizon, -1).float(), float((M @ a - r).square().mean())


def box_optimum(model: LinearWorldModel, z0: torch.Tensor, goal: torch.Tensor, horizon: int,
                low: float, high: float, reduce: str = "sum",
                steps: int = 20000) -> tuple[torch.Tensor, float]:
    """Optimal actions ``[H, A]`` within ``[low, high]`` and their L2 cost (projected gradient
    descent with step ``1 / L`` on the convex quadratic, run to convergence)."""
    M, r = stacked_system(model, z0, goal, horizon, reduce)
    H = M.T @ M
    step = 1.0 / float(torch.linalg.eigvalsh(H).max())
    a = torch.zeros(M.shape[1], dtype=torch.float64)
    for _ in range(steps):
        a = (a - step * (H @ a - M.T @ r)).clamp(low, high)
    return a.reshape(horizon, -1).float(), float((M @ a - r).square().mean())


class WalledPointModel:
    """A point in the plane, ``z' = z + step * a`` (``a`` in ``[-1, 1]^2``), with a wall on
    ``x = 0`` for ``|y| < wall`` that stops any move crossing it there.

    ``high`` is the same world one level up: one macro-action ``m`` is ``m`` held for ``k`` steps
    (what a :class:`~worldmodel.world_model.HierWorldModel` exposes as ``model.high``).
    """

    def __init__(self, step: float = 0.1, wall: float = 0.4, k: int = 5, level: str = "low"):
        self.step, self.wall, self.k = step, wall, k
        self.action_dim, self.device = 2, torch.device("cpu")
        if level == "low":
            self.high = WalledPointModel(step, wall, k, level="high")

    def encode(self, pixels, proprio=None) -> Latent:
        return Latent(torch.as_tensor(pixels, dtype=torch.float32))

    def move(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One low-level step of states ``z [N, 2]`` under actions ``a [N, 2]``."""
        new = z + self.step * a.clamp(-1, 1)
        crosses = (torch.sign(new[:, 0]) != torch.sign(z[:, 0])) & \
            ((new[:, 1].abs() < self.wall) | (z[:, 1].abs() < self.wall))
        x = torch.where(crosses, torch.sign(z[:, 0]) * 1e-3, new[:, 0])
        return torch.stack([x, new[:, 1]], 1)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        check_actions(actions, self.action_dim)
        z = start.z.expand(actions.shape[0], -1)
        repeat = self.k if hasattr(self, "high") is False else 1
        states = []
        for t in range(actions.shape[1]):
            for _ in range(repeat):
                z = self.move(z, actions[:, t])
            states.append(z)
        return Latent(torch.stack(states, 1))
