"""An action-conditioned video-prediction network (the Visual Foresight / Visual MPC baseline).

Frames are encoded by three stride-2 convolutions to a hidden map ``h [C, S/8, S/8]``; one model
step applies an action-conditioned residual block to ``h`` (the action sets a per-channel scale and
shift, FiLM); sub-pixel convolutions (conv, then pixel shuffle) decode ``h`` back to an RGB frame
in ``[0, 1]``: ``S/8 -> S/4`` at the middle width, then straight to ``S`` (a 4x shuffle). Rollouts
stay in hidden space and decode every step, so what a planner compares is pixels.

The decoder is deliberately light: planning decodes every candidate at every step (CEM with 300
samples, horizon 5 and 10 iterations decodes 15,000 frames per replan), and on a CPU the
full-resolution layers and large activations dominate the cost.

The last convolution of each transition block starts at zero: an untrained model predicts that
nothing moves (the decoded start frame), not noise.

Example::

    net = PixelPredictor(PixelPredictorConfig(image_size=64, action_dim=2))
    frames = net.rollout(frame0, actions)     # [B, 3, 64, 64], [B, H, 2] -> [B, H, 3, 64, 64]
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from einops import rearrange
from torch import nn

__all__ = ["PixelPredictor", "PixelPredictorConfig"]

#: the encoder's downsampling: three stride-2 stages
DOWNSAMPLE = 8


@dataclasses.dataclass
class PixelPredictorConfig:
    """Shape of a :class:`PixelPredictor`.

    Attributes:
        image_size: side ``S`` of the square frames (a multiple of 8).
        action_dim: size of one step's action (an action chunk, flattened).
        channels: widths of the three encoder stages (at ``S/2``, ``S/4``, ``S/8``). The last is
            the hidden state's width; the decoder's ``S/4`` stage uses the middle one.
        blocks: action-conditioned residual blocks per model step.
        action_hidden: width of the MLP that turns the action into FiLM scales and shifts.
    """

    image_size: int = 64
    action_dim: int = 2
    channels: tuple[int, ...] = (16, 16, 32)
    blocks: int = 1
    action_hidden: int = 64

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        for name in ("image_size", "action_dim", "blocks", "action_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"PixelPredictorConfig.{name} must be a positive int, "
                                 f"got {value!r}")
        if self.image_size % DOWNSAMPLE:
            raise ValueError(f"image_size must be a multiple of {DOWNSAMPLE}, "
                             f"got {self.image_size}")
        if len(self.channels) != 3 or min(self.channels) < 1:
            raise ValueError(f"channels must be three positive widths, got {self.channels}")

    @property
    def hidden_size(self) -> int:
        """Side of the hidden map, ``image_size / 8``."""
        return self.image_size // DOWNSAMPLE

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (``channels`` as a list), as checkpoints store them."""
        return {**dataclasses.asdict(self), "channels": list(self.channels)}


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, 8), channels)


class ActionBlock(nn.Module):
    """``h + conv(SiLU(norm(conv(SiLU(FiLM(norm(h), a))))))``; the last conv starts at zero."""

    def __init__(self, channels: int, action_dim: int, hidden: int):
        super().__init__()
        self.norm1, self.norm2 = _norm(channels), _norm(channels)
        self.film = nn.Sequential(nn.Linear(action_dim, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 2 * channels))
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        scale, shift = rearrange(self.film(action), "b (two c) -> two b c 1 1", two=2)
        x = self.conv1(nn.functional.silu(self.norm1(h) * (1 + scale) + shift))
        return h + self.conv2(nn.functional.silu(self.norm2(x)))


class PixelPredictor(nn.Module):
    """Conv encoder, action-conditioned residual transition, sub-pixel conv decoder."""

    def __init__(self, cfg: PixelPredictorConfig):
        super().__init__()
        self.cfg = cfg
        c1, c2, c3 = cfg.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c1, 4, stride=2, padding=1), _norm(c1), nn.SiLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1), _norm(c2), nn.SiLU(),
            nn.Conv2d(c2, c3, 4, stride=2, padding=1))
        self.blocks = nn.ModuleList(ActionBlock(c3, cfg.action_dim, cfg.action_hidden)
                                    for _ in range(cfg.blocks))
        self.decoder = nn.Sequential(
            _norm(c3), nn.SiLU(), nn.Conv2d(c3, 4 * c2, 3, padding=1), nn.PixelShuffle(2),
            _norm(c2), nn.SiLU(), nn.Conv2d(c2, 3 * 4 * 4, 3, padding=1))

    def _check_frames(self, frames: torch.Tensor, ndim: int, layout: str) -> None:
        s = self.cfg.image_size
        if frames.ndim != ndim or tuple(frames.shape[-3:]) != (3, s, s):
            raise ValueError(f"frames must be float {layout} with S={s}, "
                             f"got {tuple(frames.shape)}")

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames ``[B, 3, S, S]`` in ``[0, 1]`` -> hidden maps ``[B, C, S/8, S/8]``."""
        self._check_frames(frames, 4, "[B, 3, S, S]")
        return self.encoder(frames * 2 - 1)

    def step(self, h: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """One model step: hidden ``[B, C, s, s]`` and action ``[B, A]`` -> next hidden."""
        for block in self.blocks:
            h = block(h, action)
        return h

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Hidden maps ``[B, C, s, s]`` -> frames ``[B, 3, S, S]`` in ``[0, 1]``."""
        # sigmoid in place on the conv output (contiguous in its own layout, and not needed by
        # the conv's backward), then the last 4x sub-pixel shuffle as one copy to plain layout
        x = rearrange(self.decoder(h).sigmoid_(), "b (c i j) y x -> b c (y i) (x j)", i=4, j=4)
        return x.contiguous()

    def _check_actions(self, actions: torch.Tensor, batch: int, steps: int | None) -> None:
        a = self.cfg.action_dim
        if actions.ndim != 3 or actions.shape[0] != batch or actions.shape[2] != a or \
                (steps is not None and actions.shape[1] != steps):
            want = "T" if steps is None else steps
            raise ValueError(f"actions must be [B={batch}, {want}, {a}], "
                             f"got {tuple(actions.shape)}")

    def forward(self, frames: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: frames ``[B, n, 3, S, S]`` and actions ``[B, n-1, A]`` -> the
        predictions ``[B, n-1, 3, S, S]`` of frames ``1..n-1``, each from the true frame before."""
        self._check_frames(frames, 5, "[B, n, 3, S, S]")
        b, n = frames.shape[:2]
        self._check_actions(actions, b, n - 1)
        h = self.encode(rearrange(frames[:, :-1], "b n c x y -> (b n) c x y"))
        h = self.step(h, rearrange(actions, "b n a -> (b n) a"))
        return rearrange(self.decode(h), "(b n) c x y -> b n c x y", b=b)

    def rollout(self, frame0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Autoregressive prediction in hidden space: ``frame0 [B, 3, S, S]``, ``actions
        [B, H, A]`` -> frames ``[B, H, 3, S, S]`` after each action."""
        self._check_frames(frame0, 4, "[B, 3, S, S]")
        b = frame0.shape[0]
        self._check_actions(actions, b, None)
        h = self.encode(frame0)
        return self.rollout_hidden(h, actions)

    def rollout_hidden(self, h: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """:meth:`rollout` from encoded frames ``h [B, C, s, s]``."""
        b, steps = actions.shape[:2]
        if torch.is_grad_enabled():
            frames = []
            for t in range(steps):
                h = self.step(h, actions[:, t])
                frames.append(self.decode(h))
            return torch.stack(frames, 1)
        # without autograd each step's frames go straight into one output buffer: far fewer
        # large allocations, which dominate a CPU rollout of hundreds of candidates
        s = self.cfg.image_size
        out = torch.empty(b, steps, 3, s, s, device=h.device)
        for t in range(steps):
            h = self.step(h, actions[:, t])
            out[:, t] = self.decode(h)
        return out
