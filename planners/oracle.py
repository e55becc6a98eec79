"""The oracle-dynamics world model: a DIAGNOSTIC whose dynamics are the simulator itself.

!!! WARNING: this is the one place where a planner's model sees simulator state. !!!
:meth:`OracleWorldModel.rollout` reads the true current state from ``live_env.get_state()``,
replays each candidate action sequence in a private copy of the environment and encodes the
rendered frames with a real encoder. It answers "how well would planning in this encoder's latent
space work with perfect dynamics?" -- an upper bound to compare learned world models against, never
a result of the method. Not differentiable (no gradient planner), and slow.

``PixelEncoder`` (raw downsampled pixels as the latent) is the encoder used when no checkpoint is
given, so the oracle also gives a "perfect dynamics, pixel cost" reference.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from planners.protocol import Latent, WorldModel, check_actions


class PixelEncoder:
    """A parameter-free encoder: pixels -> float ``[B, 3, s, s]`` in [0, 1] (area-downsampled).

    Args:
        action_dim: the action size it declares (an oracle's planning step).
        size: side of the downsampled image (None: keep the full resolution).
    """

    def __init__(self, action_dim: int, size: int | None = 16, device: str = "cpu"):
        self.action_dim = int(action_dim)
        self.size = size
        self.device = torch.device(device)

    def encode(self, pixels, proprio=None) -> Latent:
        x = torch.as_tensor(np.asarray(pixels), device=self.device).permute(0, 3, 1, 2).float()
        x = x / 255.0
        if self.size is not None and x.shape[-1] != self.size:
            x = F.adaptive_avg_pool2d(x, self.size)
        p = None if proprio is None else torch.as_tensor(np.asarray(proprio), dtype=torch.float32,
                                                         device=self.device)
        return Latent(x, p)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        raise NotImplementedError("PixelEncoder has no dynamics; wrap it in OracleWorldModel")


class OracleWorldModel:
    """World-model protocol with the simulator as dynamics (diagnostic; see the module docstring).

    Args:
        env_factory: builds an environment like the live one (same task, resolution, frameskip);
            called once, and the copy is reused for every candidate.
        encoder: provides ``encode`` (and ``action_dim``, ``device``).
        live_env: the environment the MPC loop acts in; its state is read at each rollout.
        batch_size: frames encoded per ``encoder.encode`` call.
    """

    def __init__(self, env_factory: Callable[[], object], encoder: WorldModel, live_env,
                 batch_size: int = 256):
        self.encoder = encoder
        self.live_env = live_env
        self.action_dim = int(encoder.action_dim)
        self.device = torch.device(getattr(encoder, "device", "cpu"))
        self.batch_size = int(batch_size)
        self._copy = env_factory()
        self._copy.reset(seed=0)  # a goal is needed before step(); it plays no part here
        a_env = int(np.prod(self._copy.action_space.shape))
        if self.action_dim % a_env:
            raise ValueError(f"the encoder's action_dim ({self.action_dim}) is not a multiple of "
                             f"the env's action size ({a_env})")
        self._chunk, self._a_env = self.action_dim // a_env, a_env

    def encode(self, pixels, proprio=None) -> Latent:
        return self.encoder.encode(pixels, proprio)

    def _encode_batched(self, pixels: np.ndarray, proprio: np.ndarray) -> torch.Tensor:
        parts = []
        with torch.no_grad():
            for i in range(0, len(pixels), self.batch_size):
                parts.append(self.encoder.encode(pixels[i:i + self.batch_size],
                                                 proprio[i:i + self.batch_size]).z)
        return torch.cat(parts)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        """Replay ``actions [N, H, action_dim]`` from the live env's TRUE state (``start`` is
        ignored) and encode the frame after each step: ``z [N, H, ...]``, proprio ``[N, H, p]``."""
        check_actions(actions, self.action_dim)
        n, h = actions.shape[:2]
        state = self.live_env.get_state()  # DIAGNOSTIC: the simulator state reaches the model
        steps = actions.detach().cpu().numpy().astype(np.float64)
        frames, proprio = [], []
        for candidate in steps:
            self._copy.set_state(state)
            for step in candidate:
                for action in step.reshape(self._chunk, self._a_env):
                    obs, *_ = self._copy.step(action)
                frames.append(obs["pixels"])
                proprio.append(obs["proprio"])
        z = self._encode_batched(np.stack(frames), np.stack(proprio).astype(np.float32))
        p = torch.as_tensor(np.stack(proprio), dtype=torch.float32, device=z.device)
        return Latent(z.reshape(n, h, *z.shape[1:]), p.reshape(n, h, -1))

    def close(self) -> None:
        close = getattr(self._copy, "close", None)
        if close is not None:
            close()
