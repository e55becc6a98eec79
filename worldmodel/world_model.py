"""The trained action-conditioned world model behind the planner protocol.

Example::

    model = load_world_model("runs/reach/world_model/checkpoint.pt", task="reach")
    start = model.encode(obs["pixels"][None], obs["proprio"][None])
    goal = model.encode(env.render_goal()[None])
    pred = model.rollout(start, actions)       # actions [N, H, A] -> z [N, H, P, D]
    frames = model.decode(pred.z[0])           # with a decoder attached: uint8 [H, S, S, 3]
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from planners.protocol import Latent, WorldModel, check_actions
from worldmodel.ac_model import KIND, ACWorldModelNet, build_from_architecture
from worldmodel.goal_readout import READOUT_PATH, GoalReadout, load_goal_readout, proprio_features
from worldmodel.train.checkpoint import CheckpointError, load_checkpoint, submodule_state
from worldmodel.train.loop import resolve_device

if TYPE_CHECKING:
    from worldmodel.decoder import LatentDecoder
    from worldmodel.hier_model import HierarchicalNet

__all__ = ["HierWorldModel", "VJEPAWorldModel", "load_world_model"]

#: what a V-JEPA world model's latents are: encoder token space, or the projection's coefficients
LATENT_SPACES = ("tokens", "projected")

#: where ``load_world_model`` looks for a ``wm train-decoder`` checkpoint (in the model's folder)
DECODER_PATH = Path("decoder") / "checkpoint.pt"


def _tensor(x: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    return (torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x).to(device)


class VJEPAWorldModel:
    """:class:`ACWorldModelNet` implementing :class:`planners.protocol.WorldModel`.

    Latents are the frozen encoder's pooled, layer-normed tokens ``[P, D]`` (restricted to the
    projection's subspace when the predictor works on principal components); proprio is kept in
    the model's standardised units. ``rollout`` uses the predictor's key/value cache, so a
    horizon-``H`` rollout of ``N`` candidates costs about ``H`` batched single-step predictions.

    ``decode`` (latents to pixels, for videos) is an attribute that exists only once a decoder is
    attached (:meth:`attach_decoder`), so ``hasattr(model, "decode")`` tells whether the model
    can show its imagined rollouts.

    ``latent_space="projected"`` (a model trained with a projection only) hands out the
    predictor's own coefficients instead of token-space reconstructions: the projection's basis
    is orthonormal and has one scale, so an L2 distance ranks latents exactly as in token space
    while scoring a candidate reads ``k`` numbers per frame instead of ``P * D`` (L1 and cosine
    become those metrics on the coefficients). With unpooled tokens (``model.pool=0``, 64 x 192
    per Reach frame) a CEM replan took 0.76 s instead of 1.3 s (``benchmarks/rollout_throughput.py``).
    """

    def __init__(self, net: ACWorldModelNet, meta: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", latent_space: str = "tokens"):
        if latent_space not in LATENT_SPACES:
            raise ValueError(f"latent_space must be one of {LATENT_SPACES}, got {latent_space!r}")
        if latent_space == "projected" and net.projection is None:
            raise ValueError("latent_space='projected' needs a world model trained with a latent "
                             "projection (model.projection > 0); this one predicts tokens")
        self.latent_space = latent_space
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.meta = meta or {}
        self.action_dim = net.predictor.cfg.action_dim
        self.image_size = net.encoder.image_size
        self.decoder: LatentDecoder | None = None
        self.goal_readout: GoalReadout | None = None
        self.goal_spec: tuple = ()

    def attach_goal_readout(self, readout: GoalReadout, spec: tuple) -> None:
        """Attach a goal-proprio readout (:mod:`worldmodel.goal_readout`): latents then carry
        ``features``, estimated from the image when no proprio is given."""
        self.goal_readout = readout.to(self.device).eval().requires_grad_(False)
        self.goal_spec = tuple(spec)

    def _features(self, proprio: torch.Tensor | None) -> torch.Tensor | None:
        """Goal features of a standardised proprio (None without a readout or proprio)."""
        if self.goal_readout is None or proprio is None:
            return None
        return proprio_features(self.net.denormalize_proprio(proprio), self.goal_spec)

    def attach_decoder(self, decoder: LatentDecoder) -> None:
        """Attach a :class:`~worldmodel.decoder.LatentDecoder` of this model's latents; it
        defines ``self.decode``."""
        enc = self.net.encoder
        if (decoder.num_tokens, decoder.dim) != (enc.num_tokens, enc.dim):
            raise ValueError(f"the decoder reads {decoder.num_tokens} tokens of width "
                             f"{decoder.dim}; this model's latents are {enc.num_tokens} x "
                             f"{enc.dim}")
        self.decoder = decoder.to(self.device).eval().requires_grad_(False)
        self.decode = self._decode

    @torch.no_grad()
    def _decode(self, z: torch.Tensor) -> np.ndarray:
        """Token-space latents ``[H, P, D]`` or ``[B, H, P, D]`` -> uint8 ``[..., S, S, 3]``."""
        from worldmodel.decoder import to_uint8

        if self.decoder is None:
            raise RuntimeError("no decoder attached: attach_decoder() first")
        z = _tensor(z, self.device).float()
        if self.latent_space == "projected":
            z = self.net.to_token_space(z)
        if z.ndim not in (3, 4):
            raise ValueError(f"latents must be [H, P, D] or [B, H, P, D], got {tuple(z.shape)}")
        images = to_uint8(self.decoder(z.reshape(-1, *z.shape[-2:])))
        return images.reshape(*z.shape[:-2], *images.shape[1:])

    @torch.no_grad()
    def encode(self, pixels: np.ndarray | torch.Tensor,
               proprio: np.ndarray | torch.Tensor | None = None) -> Latent:
        pixels = _tensor(pixels, self.device)
        if pixels.dtype != torch.uint8:
            raise ValueError(f"images must be uint8 [B, H, W, 3], got dtype {pixels.dtype}")
        c = self.net.to_model_space(self.net.encoder.encode_pixels(pixels))
        z = self._from_model_space(c)
        p = None
        if proprio is not None and self.net.uses_proprio:
            p = _tensor(proprio, self.device).float()
            want = self.net.predictor.cfg.proprio_dim
            if p.shape != (z.shape[0], want):
                raise ValueError(f"proprio must be [B={z.shape[0]}, {want}], "
                                 f"got {tuple(p.shape)}")
            p = self.net.normalize_proprio(p)
        features = self._features(p)
        if features is None and p is None and self.goal_readout is not None:
            features = self.goal_readout(c)            # a goal image: estimated from its latent
        return Latent(z, p, features)

    def rollout(self, start: Latent, actions: torch.Tensor) -> Latent:
        check_actions(actions, self.action_dim)
        n = actions.shape[0]
        if start.batch_size not in (1, n):
            raise ValueError(f"start latent has batch {start.batch_size}; expected 1 or {n}")
        if self.net.uses_proprio and start.proprio is None:
            raise ValueError("this world model needs the start state's proprio: "
                             "encode(pixels, proprio)")
        if start.batch_size == 1 and n > 1:
            start = start.expand(n)
        c0 = start.z if self.latent_space == "projected" else self.net.to_model_space(start.z)
        c, p = self.net.predictor.rollout(c0, actions.to(self.device, torch.float32),
                                          start.proprio)
        return Latent(self._from_model_space(c), p, self._features(p))

    def _from_model_space(self, c: torch.Tensor) -> torch.Tensor:
        return c if self.latent_space == "projected" else self.net.to_token_space(c)


class HierWorldModel(VJEPAWorldModel):
    """A two-level world model (``wm train model=hier``): the low level is the world model itself
    (any planner uses it as usual); ``high`` is the macro-action level, a world model whose
    actions are ``m``-d macro-actions and whose one step is ``k`` low-level steps, predicting
    latents in the same space (so its predictions are subgoals for the low level)."""

    def __init__(self, net: HierarchicalNet, meta: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", latent_space: str = "tokens"):
        super().__init__(net.low, meta, device, latent_space)
        self.high = VJEPAWorldModel(net.high, meta, device, latent_space)
        self.k = net.k
        self.macro = net.macro.to(self.device).eval().requires_grad_(False)

    @torch.no_grad()
    def decode_macro(self, macro: torch.Tensor) -> torch.Tensor:
        """Macro-actions ``[..., m]`` -> low-level action sequences ``[..., k, action_dim]``."""
        from worldmodel.hier_model import split_chunks

        return split_chunks(self.macro.decode(macro.to(self.device, torch.float32)), self.k)


def _load_net(ckpt: dict[str, Any], build) -> Any:
    net = build(ckpt["arch"])
    net.load_state_dict(submodule_state(ckpt, "net"))
    return net


def load_world_model(path: str | Path, device: str = "auto", task: str | None = None,
                     attach: bool = True, latent_space: str = "tokens") -> WorldModel:
    """Load a ``wm train`` checkpoint as a planner-ready world model.

    The checkpoint's kind picks the class: an action-conditioned model gives a
    :class:`VJEPAWorldModel`, a ``model=hier`` one a :class:`HierWorldModel`, a ``model=pixel``
    one the pixel baseline. With ``attach``, a ``wm train-decoder`` checkpoint at
    ``<checkpoint dir>/decoder/checkpoint.pt`` is attached (``model.decode``) and an action-
    conditioned model's goal-proprio readout ``<checkpoint dir>/goal_readout.pt`` (fitted by
    ``wm train``; latents then carry ``features``); one that does not fit is skipped with a
    warning. ``latent_space`` picks the
    V-JEPA models' latents (see :class:`VJEPAWorldModel`). Raises ``CheckpointError`` for a
    checkpoint of another kind or task.
    """
    from worldmodel.hier_model import KIND as HIER_KIND
    from worldmodel.hier_model import build_from_hier_architecture
    from worldmodel.pixel_model import KIND as PIXEL_KIND
    from worldmodel.pixel_model import PixelWorldModel
    from worldmodel.pixel_model import build_from_architecture as build_pixel

    ckpt = load_checkpoint(path)
    kinds = (KIND, HIER_KIND, PIXEL_KIND)
    if ckpt.get("kind") not in kinds:
        raise CheckpointError(f"{path} holds a {ckpt.get('kind')!r} model, not a world model "
                              f"({', '.join(kinds)})")
    if task is not None and ckpt["meta"].get("task") != task:
        raise CheckpointError(f"{path} is a world model of task {ckpt['meta'].get('task')!r}, "
                              f"not {task!r}")
    device = resolve_device(device)
    if ckpt["kind"] == PIXEL_KIND:            # pixels are their own pictures: no decoder
        if latent_space != "tokens":
            raise ValueError(f"latent_space={latent_space!r} is for V-JEPA world models; {path} "
                             f"is a pixel world model")
        return PixelWorldModel(_load_net(ckpt, build_pixel), ckpt["meta"], device)
    if ckpt["kind"] == HIER_KIND:
        model: VJEPAWorldModel = HierWorldModel(_load_net(ckpt, build_from_hier_architecture),
                                                ckpt["meta"], device, latent_space)
        low_arch = ckpt["arch"]["low"]
    else:
        model = VJEPAWorldModel(_load_net(ckpt, build_from_architecture), ckpt["meta"], device,
                                latent_space)
        low_arch = ckpt["arch"]
    readout_path = Path(path).parent / READOUT_PATH
    if attach and ckpt["kind"] == KIND and readout_path.is_file():
        try:
            readout, spec, _ = load_goal_readout(readout_path, model.net)
            model.attach_goal_readout(readout, spec)
        except CheckpointError as err:
            warnings.warn(f"not attaching the goal readout {readout_path}: {err}", stacklevel=2)
    decoder_path = Path(path).parent / DECODER_PATH
    if attach and decoder_path.is_file():
        from worldmodel.decoder import load_decoder

        try:
            model.attach_decoder(load_decoder(decoder_path, model.device, low_arch))
        except (CheckpointError, ValueError) as err:
            warnings.warn(f"not attaching the decoder {decoder_path}: {err}", stacklevel=2)
    return model
