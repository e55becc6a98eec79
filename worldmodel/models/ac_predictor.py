"""The action-conditioned predictor (V-JEPA 2-AC style) over frozen-encoder latents.

Per time step ``t`` the predictor sees ``P + 2`` tokens: an action token (``a_t``), a proprio token
(``p_t``) and the frame's ``P`` latent tokens (``z_t``). Attention is block-causal over time steps:
every token of step ``t`` sees every token of steps ``<= t`` and nothing later. The outputs at the
frame tokens of step ``t``, projected back to the encoder width, predict ``z_{t+1}``; the output at
the proprio token predicts ``p_{t+1}`` (so a rollout can feed its own proprio forward).

Positions: a fixed sine-cosine embedding of the time step is added to all tokens of a step, and a
learned slot embedding (action, proprio, then the ``P`` spatial cells) tells tokens apart.

Two ways to run it, with equal results (tested):
- :meth:`ACPredictor.forward` processes whole sequences under the block-causal mask (training);
- :meth:`ACPredictor.rollout` predicts autoregressively one step at a time, keeping each block's
  keys and values, so a horizon-``H`` rollout costs about ``H`` single-step predictions (planning).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from worldmodel.models.positions import sincos_1d
from worldmodel.models.vit import check_transformer_config, init_transformer_weights, make_blocks

__all__ = ["ACPredictorConfig", "ACPredictor", "block_causal_mask"]


@dataclass
class ACPredictorConfig:
    """Shape of an :class:`ACPredictor`.

    Attributes:
        latent_dim: width of the encoder's latent tokens (input and output).
        latent_tokens: latent tokens per frame (``P``).
        action_dim: size of one step's action (an action chunk, flattened).
        proprio_dim: size of the proprioception vector (0: no proprio token).
        dim / depth / heads / mlp_ratio: the transformer (narrow, like V-JEPA's predictor).
        residual: predict the change ``z_{t+1} - z_t`` (the output is added to the input
            latents), so an untrained predictor starts at "nothing moves" instead of at noise.
        proprio_fourier: octaves of sine/cosine features of the (standardised) proprio added to
            the proprio token's input (``sin/cos(2 pi 2^k p)``, ``k < proprio_fourier``); 0 = the
            raw proprio only. A frozen ViT's latent of a small object (Push's pusher) changes
            with its position at a finer scale than a linear embedding of the position lets a
            small network represent; the Fourier features give it that scale.
    """

    latent_dim: int = 192
    latent_tokens: int = 16
    action_dim: int = 2
    proprio_dim: int = 0
    dim: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    residual: bool = True
    proprio_fourier: int = 0

    def __post_init__(self):
        check_transformer_config(self, ("dim", "depth", "heads", "latent_dim", "latent_tokens",
                                        "action_dim"))
        if self.proprio_dim < 0:
            raise ValueError(f"proprio_dim must be >= 0, got {self.proprio_dim}")
        if not 0 <= self.proprio_fourier <= 16:
            raise ValueError(f"proprio_fourier must be in [0, 16] octaves, "
                             f"got {self.proprio_fourier}")

    @property
    def tokens_per_step(self) -> int:
        return self.latent_tokens + 1 + (self.proprio_dim > 0)

    def to_dict(self) -> dict:
        return asdict(self)


def block_causal_mask(steps: int, tokens_per_step: int, device=None) -> torch.Tensor:
    """Boolean attention mask ``[S*n, S*n]`` (True = may attend): token ``i`` of step ``s_i`` may
    attend to token ``j`` of step ``s_j`` iff ``s_j <= s_i``."""
    step = torch.arange(steps, device=device).repeat_interleave(tokens_per_step)
    return step[None, :] <= step[:, None]


class ACPredictor(nn.Module):
    """Block-causal transformer over ``[action, proprio, latent tokens]`` per time step.

    Example::

        pred = ACPredictor(ACPredictorConfig(latent_dim=192, latent_tokens=16, action_dim=2,
                                             proprio_dim=6))
        z_next, p_next = pred(z, actions, proprio)      # z [B, T, 16, 192] -> z_next [B, T, 16, 192]
        z_roll, p_roll = pred.rollout(z0, p0, actions)  # z0 [B, 16, 192], actions [B, H, 2]
    """

    def __init__(self, cfg: ACPredictorConfig):
        super().__init__()
        self.cfg = cfg
        self.latent_in = nn.Linear(cfg.latent_dim, cfg.dim)
        self.action_in = nn.Linear(cfg.action_dim, cfg.dim)
        self.proprio_in = nn.Linear(cfg.proprio_dim * (1 + 2 * cfg.proprio_fourier), cfg.dim) \
            if cfg.proprio_dim else None
        self.register_buffer("fourier_freqs", 2 * torch.pi * 2.0 ** torch.arange(
            cfg.proprio_fourier, dtype=torch.float32), persistent=False)
        self.slot_embed = nn.Parameter(torch.zeros(cfg.tokens_per_step, cfg.dim))
        self.blocks = make_blocks(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_ratio)
        self.norm = nn.LayerNorm(cfg.dim)
        self.latent_out = nn.Linear(cfg.dim, cfg.latent_dim)
        self.proprio_out = nn.Linear(cfg.dim, cfg.proprio_dim) if cfg.proprio_dim else None
        init_transformer_weights(self, self.blocks)
        nn.init.trunc_normal_(self.slot_embed, std=0.02)

    # ------------------------------------------------------------------ checks
    def check_inputs(self, z: torch.Tensor, actions: torch.Tensor,
                     proprio: torch.Tensor | None, time_dim: bool) -> None:
        """Raise ``ValueError`` with the expected shapes unless the inputs fit this predictor."""
        c = self.cfg
        lead = "[B, T, " if time_dim else "[B, "
        want_z = f"{lead}{c.latent_tokens}, {c.latent_dim}]"
        if z.ndim != (4 if time_dim else 3) or tuple(z.shape[-2:]) != (c.latent_tokens,
                                                                        c.latent_dim):
            raise ValueError(f"latents must be {want_z}, got {tuple(z.shape)}")
        b = z.shape[0]
        if actions.ndim != 3 or actions.shape[0] != b or actions.shape[-1] != c.action_dim:
            raise ValueError(f"actions must be [B={b}, T, {c.action_dim}] (action_dim "
                             f"{c.action_dim}: env action size x action chunk), "
                             f"got {tuple(actions.shape)}")
        if time_dim and actions.shape[1] != z.shape[1]:
            raise ValueError(f"latents have {z.shape[1]} steps but actions {actions.shape[1]}")
        if c.proprio_dim:
            want_p = f"{lead}{c.proprio_dim}]"
            if proprio is None or proprio.shape[-1] != c.proprio_dim or \
                    proprio.shape[:-1] != z.shape[:-2]:
                got = None if proprio is None else tuple(proprio.shape)
                raise ValueError(f"proprio must be {want_p}, got {got}")

    # ------------------------------------------------------------------ tokens
    def _tokens(self, z: torch.Tensor, actions: torch.Tensor, proprio: torch.Tensor | None,
                t0: int = 0) -> torch.Tensor:
        """Input tokens ``[B, T, n, dim]`` of steps ``t0 .. t0+T-1``."""
        parts = [self.action_in(actions)[:, :, None]]
        if self.proprio_in is not None:
            parts.append(self.proprio_in(self._proprio_features(proprio))[:, :, None])
        parts.append(self.latent_in(z))
        x = torch.cat(parts, dim=2) + self.slot_embed
        steps = torch.arange(t0, t0 + z.shape[1], device=z.device)
        return x + sincos_1d(steps, self.cfg.dim).to(x.dtype)[None, :, None]

    def _proprio_features(self, proprio: torch.Tensor) -> torch.Tensor:
        """``[..., p]`` -> ``[..., p * (1 + 2 * proprio_fourier)]`` (the raw values first)."""
        if not self.cfg.proprio_fourier:
            return proprio
        angles = rearrange(proprio[..., None] * self.fourier_freqs.to(proprio.dtype),
                           "... p f -> ... (p f)")
        return torch.cat([proprio, angles.sin(), angles.cos()], dim=-1)

    def _outputs(self, x: torch.Tensor, z: torch.Tensor,
                 proprio: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Heads on ``[B, T, n, dim]`` transformer outputs given the step's inputs ``z`` and
        ``proprio``: next latents and next proprio (as changes of the inputs if ``residual``)."""
        x = self.norm(x)
        first = 2 if self.proprio_in is not None else 1
        z_next = self.latent_out(x[:, :, first:])
        p_next = self.proprio_out(x[:, :, 1]) if self.proprio_out is not None else None
        if self.cfg.residual:
            z_next = z_next + z
            p_next = None if p_next is None else p_next + proprio
        return z_next, p_next

    # ------------------------------------------------------------------ teacher forcing
    def forward(self, z: torch.Tensor, actions: torch.Tensor,
                proprio: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Predict step ``t+1`` from steps ``<= t`` for every ``t`` at once (teacher forcing).

        Args:
            z: latents ``[B, T, P, D]``; actions: ``[B, T, A]`` (action ``t`` acts on state ``t``);
            proprio: ``[B, T, p]`` when the predictor has a proprio token.
        Returns:
            ``(z_next [B, T, P, D], p_next [B, T, p] or None)``: entry ``t`` predicts step ``t+1``.
        """
        self.check_inputs(z, actions, proprio, time_dim=True)
        b, t = z.shape[:2]
        n = self.cfg.tokens_per_step
        x = rearrange(self._tokens(z, actions, proprio), "b t n d -> b (t n) d")
        mask = block_causal_mask(t, n, device=z.device)
        for blk in self.blocks:
            x = blk(x, attn_mask=mask)
        return self._outputs(rearrange(x, "b (t n) d -> b t n d", n=n), z, proprio)

    # ------------------------------------------------------------------ cached rollout
    def _cached_step(self, x: torch.Tensor, cache: list) -> torch.Tensor:
        """One time step ``x [B, n, dim]`` through every block, attending to the cached keys and
        values of earlier steps (appending this step's)."""
        for i, blk in enumerate(self.blocks):
            attn = blk.attn
            h = blk.norm1(x)
            qkv = rearrange(attn.qkv(h), "b n (k h d) -> k b h n d", k=3, h=attn.num_heads)
            q, k, v = qkv.unbind(0)
            q, k = attn.q_norm(q), attn.k_norm(k)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            a = F.scaled_dot_product_attention(q, k, v)
            a = attn.proj(attn.norm(rearrange(a, "b h n d -> b n (h d)")))
            x = x + blk.drop_path1(blk.ls1(a))
            x = x + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(x))))
        return x

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor, proprio0: torch.Tensor | None = None,
                use_cache: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Autoregressive rollout from ``z0 [B, P, D]`` (and ``proprio0 [B, p]``) under
        ``actions [B, H, A]``; each prediction is fed back as the next step's input.

        Returns ``(z [B, H, P, D], proprio [B, H, p] or None)``: entry ``t`` is the state after
        actions ``0..t``. ``use_cache=False`` recomputes the whole prefix every step (reference).
        """
        self.check_inputs(z0, actions, proprio0, time_dim=False)
        z_t, p_t = z0[:, None], None if proprio0 is None else proprio0[:, None]
        zs, ps, cache = [], [], [None] * len(self.blocks)
        z_hist, p_hist = [], []
        for t in range(actions.shape[1]):
            a_t = actions[:, t:t + 1]
            if use_cache:
                x = self._tokens(z_t, a_t, p_t if self.proprio_in is not None else None, t0=t)
                x = self._cached_step(x[:, 0], cache)
                z_next, p_next = self._outputs(x[:, None], z_t, p_t)
            else:
                z_hist.append(z_t)
                p_hist.append(p_t)
                z_all = torch.cat(z_hist, 1)
                p_all = torch.cat(p_hist, 1) if self.proprio_in is not None else None
                z_next, p_next = self.forward(z_all, actions[:, :t + 1], p_all)
                z_next = z_next[:, -1:]
                p_next = None if p_next is None else p_next[:, -1:]
            zs.append(z_next)
            z_t = z_next
            if p_next is not None:
                ps.append(p_next)
                p_t = p_next
        z = torch.cat(zs, 1)
        return z, (torch.cat(ps, 1) if ps else None)
