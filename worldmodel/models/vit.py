"""Video Vision Transformer with 3D tubelet patches and fixed 3D sine-cosine positions.

The encoder of V-JEPA: a clip ``[B, T, C, H, W]`` (time second, float, already normalised) is cut
into tubelets of ``tubelet`` frames x ``patch`` x ``patch`` pixels by a ``Conv3d`` whose kernel
equals its stride; each tubelet becomes one token. Tokens are ordered t-major, then h, then w (see
:mod:`worldmodel.models.positions`).

Two ways to encode:

- :meth:`VideoViT.forward` encodes a whole clip of ``cfg.num_frames`` frames, optionally only the
  tokens listed in ``keep`` (the JEPA context encoder sees only visible tokens);
- :meth:`VideoViT.encode_frames` encodes every frame on its own, as the frozen encoder of an
  action-conditioned world model does (V-JEPA 2-AC): each frame is repeated ``tubelet`` times to
  fill one tubelet, so it works for any number of frames.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from worldmodel.models.positions import sincos_3d

__all__ = ["VideoViTConfig", "VideoViT", "vit_config", "VIT_PRESETS", "count_parameters",
           "init_transformer_weights"]


@dataclass
class VideoViTConfig:
    """Shape of a :class:`VideoViT`.

    Attributes:
        image_size: square frame side in pixels (must be divisible by ``patch``).
        num_frames: frames per clip for :meth:`VideoViT.forward` (divisible by ``tubelet``).
        tubelet: frames per token.
        patch: pixels per token side.
        in_chans: image channels.
        dim: token width (divisible by ``heads``; even and >= 6 for the 3D sin-cos positions).
        depth: number of transformer blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        drop_path: stochastic depth rate of the last block (linearly increasing from 0).
    """

    image_size: int = 64
    num_frames: int = 2
    tubelet: int = 2
    patch: int = 8
    in_chans: int = 3
    dim: int = 192
    depth: int = 6
    heads: int = 3
    mlp_ratio: float = 4.0
    drop_path: float = 0.0

    def __post_init__(self):
        check_transformer_config(self, ("image_size", "num_frames", "tubelet", "patch",
                                        "in_chans", "dim", "depth", "heads"))
        if self.image_size % self.patch:
            raise ValueError(f"VideoViTConfig: image_size={self.image_size} is not divisible by "
                             f"patch={self.patch}")
        if self.num_frames % self.tubelet:
            raise ValueError(f"VideoViTConfig: num_frames={self.num_frames} is not divisible by "
                             f"tubelet={self.tubelet}")

    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of a clip of ``num_frames`` frames."""
        side = self.image_size // self.patch
        return self.num_frames // self.tubelet, side, side

    @property
    def num_tokens(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def to_dict(self) -> dict:
        return asdict(self)


def check_transformer_config(cfg, int_fields: tuple[str, ...]) -> None:
    """Shared checks of a transformer config dataclass (``dim``, ``heads``, ``mlp_ratio``,
    ``drop_path`` and the positive-int ``int_fields``), with messages naming the class."""
    name = type(cfg).__name__
    for field in int_fields:
        value = getattr(cfg, field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}.{field} must be a positive int, got {value!r}")
    if cfg.dim % cfg.heads:
        raise ValueError(f"{name}: dim={cfg.dim} is not divisible by heads={cfg.heads}")
    if cfg.dim % 2 or cfg.dim < 6:
        raise ValueError(f"{name}: dim={cfg.dim} must be even and >= 6 "
                         f"(3D sin-cos positions: 3 axes x sin/cos)")
    if not cfg.mlp_ratio > 0:
        raise ValueError(f"{name}.mlp_ratio must be > 0, got {cfg.mlp_ratio}")
    if not 0.0 <= getattr(cfg, "drop_path", 0.0) < 1.0:
        raise ValueError(f"{name}.drop_path must be in [0, 1), got {cfg.drop_path}")


#: Named sizes: (dim, depth, heads). "tiny" trains on a 2-core CPU (~2.7M encoder parameters).
VIT_PRESETS: dict[str, dict] = {
    "tiny": dict(dim=192, depth=6, heads=3),
    "small": dict(dim=384, depth=12, heads=6),
    "base": dict(dim=768, depth=12, heads=12),
    "large": dict(dim=1024, depth=24, heads=16),
}


def vit_config(size: str = "tiny", **overrides) -> VideoViTConfig:
    """A :class:`VideoViTConfig` for a named size (``tiny``, ``small``, ``base``, ``large``).

    Any field can be overridden, e.g. ``vit_config("small", image_size=128, patch=16)``.
    """
    if size not in VIT_PRESETS:
        raise ValueError(f"unknown ViT size {size!r}; choose one of {sorted(VIT_PRESETS)}")
    fields = set(VideoViTConfig.__dataclass_fields__)
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown VideoViTConfig field(s) {sorted(unknown)}; "
                         f"valid: {sorted(fields)}")
    return VideoViTConfig(**{**VIT_PRESETS[size], **overrides})


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def init_transformer_weights(module: nn.Module, blocks: nn.ModuleList | None = None) -> None:
    """ViT-style initialisation: truncated normal (std 0.02) for linear and conv weights, zero
    biases, unit LayerNorms; then each block's residual output projections (attention ``proj`` and
    MLP ``fc2``) are divided by ``sqrt(2 * layer)`` so deeper stacks start close to identity."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if blocks is not None:
        with torch.no_grad():
            for layer, blk in enumerate(blocks, start=1):
                blk.attn.proj.weight.div_(math.sqrt(2.0 * layer))
                blk.mlp.fc2.weight.div_(math.sqrt(2.0 * layer))


def make_blocks(dim: int, depth: int, heads: int, mlp_ratio: float,
                drop_path: float = 0.0) -> nn.ModuleList:
    """``depth`` timm pre-norm transformer blocks with linearly increasing stochastic depth."""
    rates = [drop_path * i / (depth - 1) for i in range(depth)] if depth > 1 else [drop_path]
    return nn.ModuleList([
        Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, drop_path=rates[i],
              norm_layer=nn.LayerNorm)
        for i in range(depth)
    ])


class VideoViT(nn.Module):
    """Video ViT encoder (see the module docstring).

    Example::

        vit = VideoViT(vit_config("tiny"))            # 64x64, 2-frame clips -> grid (1, 8, 8)
        z = vit(frames)                                # frames [B, 2, 3, 64, 64] -> [B, 64, 192]
        z_ctx = vit(frames, keep=idx)                  # idx LongTensor [B, K] -> [B, K, 192]
        z_per_frame = vit.encode_frames(frames)        # [B, T, 64, 192], any T
    """

    def __init__(self, cfg: VideoViTConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg if cfg is not None else VideoViTConfig()
        self.embed_dim = cfg.dim
        self.patch_embed = nn.Conv3d(cfg.in_chans, cfg.dim,
                                     kernel_size=(cfg.tubelet, cfg.patch, cfg.patch),
                                     stride=(cfg.tubelet, cfg.patch, cfg.patch))
        # Fixed positions. Rows [0, h*w) are time slot 0: also the positions used by encode_frames.
        self.register_buffer("pos_embed", sincos_3d(*cfg.grid, cfg.dim), persistent=False)
        self.blocks = make_blocks(cfg.dim, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.drop_path)
        self.norm = nn.LayerNorm(cfg.dim)
        init_transformer_weights(self, self.blocks)

    # ---------------------------------------------------------------- shape
    @property
    def grid(self) -> tuple[int, int, int]:
        """Token grid ``(t, h, w)`` of a clip."""
        return self.cfg.grid

    @property
    def num_tokens(self) -> int:
        """Tokens of a clip: ``t * h * w``."""
        return self.cfg.num_tokens

    @property
    def tokens_per_frame(self) -> int:
        """Tokens of one frame in :meth:`encode_frames`: ``h * w``."""
        _, h, w = self.grid
        return h * w

    def _check_frames(self, frames: torch.Tensor, num_frames: int | None) -> None:
        cfg = self.cfg
        want_t = "T" if num_frames is None else str(num_frames)
        expected = f"[B, {want_t}, {cfg.in_chans}, {cfg.image_size}, {cfg.image_size}]"
        if not isinstance(frames, torch.Tensor):
            raise ValueError(f"frames must be a torch.Tensor {expected}, "
                             f"got {type(frames).__name__}")
        if frames.ndim != 5:
            raise ValueError(f"frames must have 5 dims {expected} (batch, time, channels, height, "
                             f"width), got {frames.ndim} dims with shape {tuple(frames.shape)}")
        b, t, c, h, w = frames.shape
        if c != cfg.in_chans:
            raise ValueError(f"frames have {c} channels, expected {cfg.in_chans}: expected "
                             f"{expected}, got {tuple(frames.shape)} (time must be dim 1)")
        if h != cfg.image_size or w != cfg.image_size:
            raise ValueError(f"frames are {h}x{w} pixels, expected {cfg.image_size}x"
                             f"{cfg.image_size}: expected {expected}, got {tuple(frames.shape)}")
        if num_frames is not None and t != num_frames:
            raise ValueError(f"clips have {t} frames, expected {num_frames}: expected {expected}, "
                             f"got {tuple(frames.shape)}")
        if b < 1 or t < 1:
            raise ValueError(f"empty frames tensor: shape {tuple(frames.shape)}")
        if not frames.is_floating_point():
            raise ValueError(f"frames must be float (divide uint8 by 255 and normalise first), "
                             f"got dtype {frames.dtype}")

    def check_frames(self, frames: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``frames`` is a float clip ``[B, num_frames, C, H, W]``."""
        self._check_frames(frames, self.cfg.num_frames)

    # ---------------------------------------------------------------- encoding
    def _transform(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Patch-embedded tokens with positions, before the transformer: ``[B, N, dim]``."""
        self.check_frames(frames)
        x = self.patch_embed(frames.transpose(1, 2))  # [B, C, T, H, W] -> [B, D, t, h, w]
        x = x.flatten(2).transpose(1, 2)  # [B, N, D], t-major then h then w
        return x + self.pos_embed.to(x.dtype)

    def forward(self, frames: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a clip ``frames [B, T, C, H, W]`` (T = ``cfg.num_frames``).

        Args:
            keep: optional ``LongTensor [B, K]`` of token indices (into the flattened ``t*h*w``
                grid) to pass through the transformer; the other tokens are dropped before the
                first block, so they cannot influence the output.

        Returns:
            ``[B, N, dim]`` or ``[B, K, dim]`` with ``keep`` (rows in the order of ``keep``).
        """
        x = self.embed(frames)
        if keep is not None:
            x = gather_tokens(x, keep)
        return self._transform(x)

    def forward_layers(self, frames: torch.Tensor, last: int) -> list[torch.Tensor]:
        """The outputs ``[B, N, dim]`` of the last ``last`` blocks on the full clip, oldest first;
        the final one after the encoder's norm (so ``[-1]`` equals :meth:`forward`)."""
        if not 1 <= last <= self.cfg.depth:
            raise ValueError(f"last must be in [1, depth={self.cfg.depth}], got {last}")
        x = self.embed(frames)
        outs = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i >= self.cfg.depth - last:
                outs.append(x)
        outs[-1] = self.norm(outs[-1])
        return outs

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode each frame of ``frames [B, T, C, H, W]`` on its own -> ``[B, T, h*w, dim]``.

        Each frame is treated as a clip of ``tubelet`` copies of itself (one tubelet time slot, at
        the positions of time slot 0), so the result does not depend on ``cfg.num_frames`` and
        frame ``i``'s features depend only on frame ``i``. Implemented without copying: a
        tubelet of identical frames through the ``Conv3d`` equals a 2D convolution with the
        kernel summed over time.
        """
        self._check_frames(frames, None)
        b, t = frames.shape[:2]
        x = frames.reshape(b * t, *frames.shape[2:])
        w = self.patch_embed.weight.sum(dim=2)  # [D, C, p, p]
        x = F.conv2d(x, w, self.patch_embed.bias, stride=self.cfg.patch)  # [B*T, D, h, w]
        x = x.flatten(2).transpose(1, 2)
        x = x + self.pos_embed[: self.tokens_per_frame].to(x.dtype)
        x = self._transform(x)
        return x.reshape(b, t, self.tokens_per_frame, self.cfg.dim)


def gather_tokens(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Rows of ``x [B, N, D]`` at ``idx [B, K]`` -> ``[B, K, D]`` (with shape checks)."""
    if idx.ndim != 2 or idx.shape[0] != x.shape[0]:
        raise ValueError(f"token indices must be [B={x.shape[0]}, K], got {tuple(idx.shape)}")
    if idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"token indices must be an integer (Long) tensor, got {idx.dtype}")
    # Range check on CPU only (on an accelerator it would force a host sync every call).
    if idx.device.type == "cpu" and idx.numel() and (int(idx.min()) < 0
                                                     or int(idx.max()) >= x.shape[1]):
        raise ValueError(f"token indices out of range [0, {x.shape[1]}): "
                         f"min {int(idx.min())}, max {int(idx.max())}")
    idx = idx.to(device=x.device, dtype=torch.long)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[-1]))
