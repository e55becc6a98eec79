"""The frozen encoder as the world model sees it, and a disk cache of a dataset's latents.

:class:`FrozenEncoder` encodes each frame on its own with a frozen video ViT, average-pools the
patch tokens to a ``pool x pool`` grid (``pool=0`` keeps every token) and layer-normalises each
token without affine parameters: the latent space in which the action-conditioned predictor is
trained and planners measure distances. Pooling trades spatial detail for planning speed (the
predictor's cost grows with the tokens per frame; see ``wm bench`` / the rollout benchmark).

:func:`cached_latents` encodes every frame of a dataset once and stores the result next to the
training run (keyed by the encoder's weights and the dataset), so training reads latents from
memory instead of running the encoder.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from tqdm import tqdm

from worldmodel.data.storage import EpisodeStore, list_episodes
from worldmodel.data.transforms import frames_to_model
from worldmodel.models.vit import VideoViT

__all__ = ["FrozenEncoder", "LatentProjection", "cached_latents", "encoder_digest",
           "gaussian_blur"]


class FrozenEncoder(nn.Module):
    """Frozen per-frame encoder: uint8 or model-ready frames -> layer-normed latents ``[.., P, D]``.

    Args:
        encoder: a :class:`VideoViT`; its parameters are frozen here (``requires_grad=False``).
        pool: latent tokens per side (``P = pool * pool``); 0 keeps the encoder's ``h * w`` tokens.
        blur: standard deviation (pixels) of a Gaussian low-pass applied to each frame before the
            encoder; 0 = off. A ViT's patch embedding responds to a small object's sub-patch
            position almost at random (a 1-pixel shift of Push's pusher moves a random-init
            encoder's latent half as far as an 8-pixel one); blurring the frame is the same as
            smoothing the patch filters, so the latent moves gradually with the object.
    """

    def __init__(self, encoder: VideoViT, pool: int = 2, blur: float = 0.0):
        super().__init__()
        _, h, w = encoder.grid
        if pool < 0 or (pool and (h % pool or w % pool)):
            raise ValueError(f"pool={pool} must be 0 (no pooling) or divide the encoder's "
                             f"{h}x{w} token grid")
        if not 0 <= blur <= encoder.cfg.image_size / 4:
            raise ValueError(f"blur must be a Gaussian std in [0, image_size / 4] pixels, "
                             f"got {blur}")
        self.encoder = encoder.eval().requires_grad_(False)
        self.pool = pool
        self.blur = float(blur)
        self.grid = (pool, pool) if pool else (h, w)

    @property
    def num_tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def dim(self) -> int:
        return self.encoder.cfg.dim

    @property
    def image_size(self) -> int:
        return self.encoder.cfg.image_size

    def train(self, mode: bool = True) -> "FrozenEncoder":
        super().train(mode)
        self.encoder.eval()  # always in eval mode: it is frozen
        return self

    @torch.no_grad()
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """Model-ready float frames ``[B, T, C, H, W]`` -> latents ``[B, T, P, D]``."""
        if self.blur > 0:
            frames = gaussian_blur(frames, self.blur)
        tokens = self.encoder.encode_frames(frames)  # [B, T, h*w, D]
        if self.pool:
            b, t = tokens.shape[:2]
            _, h, w = self.encoder.grid
            grid = rearrange(tokens, "b t (h w) d -> (b t) d h w", h=h, w=w)
            grid = F.adaptive_avg_pool2d(grid, self.pool)
            tokens = rearrange(grid, "(b t) d h w -> b t (h w) d", b=b, t=t)
        return F.layer_norm(tokens, (tokens.shape[-1],))

    def encode_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """uint8 images ``[B, H, W, 3]`` -> latents ``[B, P, D]``."""
        size = self.image_size
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (size, size, 3):
            raise ValueError(f"images must be uint8 [B, {size}, {size}, 3] (the encoder's "
                             f"resolution), got {tuple(pixels.shape)}")
        frames = rearrange(pixels, "b h w c -> b 1 c h w")
        return self(frames_to_model(frames))[:, 0]


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian low-pass (std ``sigma`` pixels, edges replicated) of frames
    ``[..., C, H, W]``."""
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=frames.dtype, device=frames.device)
    kernel = torch.exp(-t.square() / (2 * sigma ** 2))
    kernel = kernel / kernel.sum()
    c, h, w = frames.shape[-3:]
    x = frames.reshape(-1, c, h, w)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"),
                 kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"),
                 kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return x.reshape(frames.shape)


def encoder_digest(encoder: FrozenEncoder) -> str:
    """A short hash of the encoder's weights, pooling and blur (the cache key)."""
    key = f"pool={encoder.pool}" + (f"|blur={encoder.blur}" if encoder.blur else "")
    h = hashlib.sha1(key.encode())
    for name, tensor in sorted(encoder.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()[:16]


def _dataset_key(store: EpisodeStore) -> str:
    files = list_episodes(store.data_dir)
    stamp = "|".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    return hashlib.sha1(f"{store.data_dir.resolve()}|{stamp}".encode()).hexdigest()[:16]


@torch.no_grad()
def encode_store(encoder: FrozenEncoder, store: EpisodeStore, batch_size: int = 128,
                 device: torch.device | str = "cpu", progress: bool = True) -> torch.Tensor:
    """Latents of every frame of every episode: ``[episodes, steps + 1, P, D]`` (float16, CPU)."""
    encoder = encoder.to(device)
    frames_per_ep = store.meta.steps + 1
    out = torch.empty(len(store), frames_per_ep, encoder.num_tokens, encoder.dim,
                      dtype=torch.float16)
    index = [(e, t) for e in range(len(store)) for t in range(frames_per_ep)]
    with tqdm(total=len(index), desc="encode frames", unit="frame", disable=not progress,
              dynamic_ncols=True) as bar:
        for i in range(0, len(index), batch_size):
            chunk = index[i:i + batch_size]
            pixels = torch.from_numpy(np.stack([store[e]["pixels"][t] for e, t in chunk]))
            z = encoder.encode_pixels(pixels.to(device)).to("cpu", torch.float16)
            for (e, t), z_i in zip(chunk, z):
                out[e, t] = z_i
            bar.update(len(chunk))
    return out


def cached_latents(encoder: FrozenEncoder, store: EpisodeStore, cache_dir: str | Path | None,
                   *, batch_size: int = 128, device: torch.device | str = "cpu",
                   progress: bool = True) -> torch.Tensor:
    """:func:`encode_store`, read from / written to ``cache_dir`` when given (atomic write)."""
    if cache_dir is None:
        return encode_store(encoder, store, batch_size, device, progress)
    path = Path(cache_dir) / f"latents_{encoder_digest(encoder)}_{_dataset_key(store)}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    latents = encode_store(encoder, store, batch_size, device, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(latents, tmp)
    tmp.replace(path)
    return latents


class LatentProjection(nn.Module):
    """A fixed linear map of a frame's latent tokens ``[P, D]`` to ``k`` principal components.

    Fitted once on the training set's latents (PCA, one global scale so the coefficients are
    O(1)). The predictor learns in this space: the top components carry the scene's moving parts
    and are predictable, while the many low-variance channels of a frozen ViT's tokens are not
    and would dominate an L1 loss on raw tokens. :meth:`reconstruct` maps back to token space,
    where planners measure distances by default (``wm plan latent_space=projected`` measures them
    on the coefficients instead: the same L2 ranking, since the basis is orthonormal).

    Two modes:

    * per frame (default): PCA of the flattened tokens ``P*D``; a frame becomes one latent token
      of width ``k``. Compact (fast rollouts), but a small object moving across the image (Push's
      pusher) is spread over many components and mostly falls outside the top ``k``.
    * per token (``per_token=True``): PCA of the ``D`` channels shared by all token positions (each
      position keeps its own mean); a frame stays ``P`` tokens of width ``k``, so where things are
      is kept by the token grid and the predictor sees local structure.
    """

    def __init__(self, tokens: int, dim: int, k: int, per_token: bool = False):
        super().__init__()
        width = dim if per_token else tokens * dim
        if not 0 < k <= width:
            raise ValueError(f"projection size must be in [1, {width}], got {k}")
        self.tokens, self.dim, self.k, self.per_token = tokens, dim, k, bool(per_token)
        self.register_buffer("mean", torch.zeros(tokens * dim))
        self.register_buffer("basis", torch.eye(width)[:, :k].contiguous())
        self.register_buffer("scale", torch.ones(()))

    @property
    def out_tokens(self) -> int:
        """Latent tokens per frame in projected space (1 per frame, or ``P`` per token)."""
        return self.tokens if self.per_token else 1

    def _rows(self, z: torch.Tensor) -> torch.Tensor:
        """Centred tokens ``[..., P, D]`` -> ``[..., out_tokens, width]``."""
        flat = z.flatten(-2) - self.mean
        return flat.unflatten(-1, (self.out_tokens, -1))

    @torch.no_grad()
    def fit(self, latents: torch.Tensor, max_samples: int = 20000, seed: int = 0) -> float:
        """Fit on latents ``[N, P, D]``; returns the fraction of variance the ``k`` components
        keep."""
        x = latents.reshape(len(latents), -1).float()
        if len(x) > max_samples:
            g = torch.Generator().manual_seed(seed)
            x = x[torch.randperm(len(x), generator=g)[:max_samples]]
        if len(x) <= self.k:
            raise ValueError(f"need more than {self.k} training frames to fit a {self.k}-component "
                             f"latent projection, got {len(x)}: collect more episodes or lower "
                             f"model.projection")
        self.mean.copy_(x.mean(0))
        centred = self._rows(x.unflatten(-1, (self.tokens, self.dim))).flatten(0, -2)
        torch.manual_seed(seed)
        _, _, v = torch.pca_lowrank(centred, q=min(self.k + 8, *centred.shape), center=False,
                                    niter=4)
        basis = v[:, :self.k]
        coeffs = centred @ basis
        self.basis.copy_(basis)
        self.scale.copy_(coeffs.std().clamp_min(1e-6))
        return float((coeffs.square().sum() / centred.square().sum()).clamp(max=1.0))

    def project(self, z: torch.Tensor) -> torch.Tensor:
        """Tokens ``[..., P, D]`` -> coefficients ``[..., out_tokens, k]``."""
        return (self._rows(z) @ self.basis) / self.scale

    def reconstruct(self, c: torch.Tensor) -> torch.Tensor:
        """Coefficients ``[..., out_tokens, k]`` -> tokens ``[..., P, D]`` in the projection's
        subspace."""
        flat = ((c * self.scale) @ self.basis.T).flatten(-2) + self.mean
        return flat.unflatten(-1, (self.tokens, self.dim))
