"""Frozen evaluation with an attentive probe (``wm probe``).

V-JEPA's headline property is that its frozen features serve new tasks through a light head. This
module measures it on our tasks: every frame of a dataset is encoded once by a frozen encoder (each
frame on its own, as the world model sees it), the patch tokens are cached, and a small
:class:`AttentiveProbe` (learned queries cross-attending over the tokens, then a linear head) is
trained on the cached tokens of the training episodes to regress the task's probe targets
(``env.probe_targets``: e.g. joint angles as cos/sin for Reach). The score is R^2 on held-out
episodes, per target and averaged.

The same probe is run on the same architecture with random weights (``random_init``), the baseline
that tells what pretraining added. :func:`probe_encoders` is the core and takes any encoders, so
other feature extractors can be compared in the same table::

    from worldmodel.probe import ProbeConfig, probe_encoders
    result = probe_encoders({"mine": my_encoder}, ProbeConfig(data_dir="runs/reach/data"))
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from tqdm import tqdm

from worldmodel.data.dataset import split_episodes
from worldmodel.data.storage import EpisodeStore, write_json_atomic, write_text_atomic
from worldmodel.data.transforms import frames_to_model
from worldmodel.models.jepa import effective_rank
from worldmodel.train.loop import resolve_device

__all__ = ["AttentiveProbe", "ProbeConfig", "extract_features", "probe_targets", "r2_score",
           "fit_probe", "predict", "build_encoders", "probe_encoders", "run_probe",
           "format_table", "label_shares", "mean_over_seeds", "probe_command"]

#: an encoder: a module with ``encode_frames`` (``[B, T, C, H, W] -> [B, T, N, D]``) or a callable
#: with the same input giving ``[B, T, N, D]``, ``[B, N, D]`` or ``[B, D]`` (one global vector)
Encoder = Any


# ---------------------------------------------------------------------------------------- probe
class AttentiveProbe(nn.Module):
    """Attentive pooling + linear head: ``[B, N, dim]`` tokens -> ``[B, out_dim]``.

    ``num_queries`` learned query tokens cross-attend (``heads`` heads) over the layer-normed input
    tokens; as in V-JEPA's attentive probe, the attended query then goes through a residual MLP
    (``mlp_ratio``; 0 disables it). The queries are flattened, normalised and mapped to
    ``out_dim`` by a linear layer.
    """

    def __init__(self, dim: int, out_dim: int, heads: int = 4, num_queries: int = 1,
                 mlp_ratio: float = 4.0):
        super().__init__()
        for name, value in (("dim", dim), ("out_dim", out_dim), ("heads", heads),
                            ("num_queries", num_queries)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AttentiveProbe: {name} must be a positive int, got {value!r}")
        if dim % heads:
            raise ValueError(f"AttentiveProbe: dim={dim} is not divisible by heads={heads}")
        if mlp_ratio < 0:
            raise ValueError(f"AttentiveProbe: mlp_ratio must be >= 0, got {mlp_ratio}")
        self.dim, self.out_dim = dim, out_dim
        self.query = nn.Parameter(torch.zeros(1, num_queries, dim))
        nn.init.trunc_normal_(self.query, std=0.02)
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim)) if hidden > 0 else None
        self.head_norm = nn.LayerNorm(num_queries * dim)
        self.head = nn.Linear(num_queries * dim, out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.ndim != 3 or tokens.shape[-1] != self.dim:
            raise ValueError(f"AttentiveProbe expects tokens [B, N, {self.dim}], "
                             f"got {tuple(tokens.shape)}")
        x = self.norm(tokens)
        q = self.query.expand(tokens.shape[0], -1, -1)
        q = q + self.attn(q, x, x, need_weights=False)[0]
        if self.mlp is not None:
            q = q + self.mlp(q)
        return self.head(self.head_norm(q.flatten(1)))


def r2_score(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> np.ndarray:
    """Coefficient of determination per target dimension: ``1 - SSE / SST``, SST around the mean
    of ``target``. ``[N, K]`` (or ``[N]``) inputs -> ``[K]`` scores. A constant target (SST = 0)
    scores 1 when predicted exactly, else 0 (so the average stays finite)."""
    pred = np.asarray(pred.detach().cpu() if isinstance(pred, torch.Tensor) else pred, np.float64)
    target = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target,
                        np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"r2_score: prediction {pred.shape} and target {target.shape} differ")
    if pred.ndim == 1:
        pred, target = pred[:, None], target[:, None]
    if pred.ndim != 2 or pred.shape[0] < 1:
        raise ValueError(f"r2_score expects [N, K] arrays with N >= 1, got {pred.shape}")
    sse = ((target - pred) ** 2).sum(0)
    sst = ((target - target.mean(0)) ** 2).sum(0)
    safe = np.where(sst > 0, sst, 1.0)
    return np.where(sst > 0, 1.0 - sse / safe, np.where(sse == 0, 1.0, 0.0))


def fit_probe(features: torch.Tensor, targets: torch.Tensor, *, steps: int = 300,
              batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.01, seed: int = 0,
              heads: int = 4, num_queries: int = 1, mlp_ratio: float = 4.0,
              device: str | torch.device = "cpu") -> AttentiveProbe:
    """Train an :class:`AttentiveProbe` on cached ``features [N, T, D]`` -> ``targets [N, K]``
    (MSE, AdamW, short warmup then cosine decay). ``heads`` is reduced to a divisor of ``D``."""
    if features.ndim != 3 or targets.ndim != 2 or features.shape[0] != targets.shape[0]:
        raise ValueError(f"fit_probe expects features [N, T, D] and targets [N, K], got "
                         f"{tuple(features.shape)} and {tuple(targets.shape)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive, got {steps}, {batch_size}")
    device = torch.device(device)
    n, dim = features.shape[0], features.shape[-1]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        probe = AttentiveProbe(dim, targets.shape[1], heads=math.gcd(dim, heads),
                               num_queries=num_queries, mlp_ratio=mlp_ratio).to(device)
    decay = [p for name, p in probe.named_parameters() if p.ndim >= 2 and name != "query"]
    rest = [p for name, p in probe.named_parameters() if not (p.ndim >= 2 and name != "query")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=lr)
    warmup = min(max(steps // 20, 1), steps)
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = features.to(device), targets.to(device, torch.float32)
    probe.train()
    for step in range(steps):
        scale = (step + 1) / warmup if step < warmup else \
            0.5 * (1 + math.cos(math.pi * (step - warmup) / max(steps - warmup, 1)))
        for group in opt.param_groups:
            group["lr"] = lr * scale
        idx = torch.randint(n, (min(batch_size, n),), generator=gen).to(device)
        loss = F.mse_loss(probe(x_all[idx].float()), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return probe.eval()


@torch.inference_mode()
def predict(probe: AttentiveProbe, features: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The probe's outputs for ``features [N, T, D]`` -> ``[N, K]`` on the CPU."""
    device = next(probe.parameters()).device
    return torch.cat([probe(features[i:i + batch_size].to(device).float()).cpu()
                      for i in range(0, features.shape[0], batch_size)])


# ---------------------------------------------------------------------------------------- data
def _open_store(data: str | Path | EpisodeStore) -> EpisodeStore:
    return data if isinstance(data, EpisodeStore) else EpisodeStore(data)


def frame_indices(num_frames: int, frames_per_episode: int | None) -> np.ndarray:
    """``frames_per_episode`` evenly spaced frame indices in ``[0, num_frames)`` (all if None)."""
    if frames_per_episode is None or frames_per_episode >= num_frames:
        return np.arange(num_frames)
    if frames_per_episode < 1:
        raise ValueError(f"frames_per_episode must be positive or None, got {frames_per_episode}")
    return np.unique(np.linspace(0, num_frames - 1, frames_per_episode).round().astype(np.int64))


def _encode(encoder: Encoder, frames: torch.Tensor) -> torch.Tensor:
    """``frames [B, 1, C, H, W]`` -> tokens ``[B, N, D]``."""
    fn = encoder.encode_frames if hasattr(encoder, "encode_frames") else encoder
    if not callable(fn):
        raise TypeError(f"an encoder must have encode_frames or be callable, got "
                        f"{type(encoder).__name__}")
    out = fn(frames)
    b = frames.shape[0]
    if out.ndim == 4 and out.shape[:2] == (b, 1):
        return out[:, 0]
    if out.ndim == 3 and out.shape[0] == b:
        return out
    if out.ndim == 2 and out.shape[0] == b:
        return out[:, None]
    raise ValueError(f"encoder output for frames {tuple(frames.shape)} must be [B, 1, N, D], "
                     f"[B, N, D] or [B, D]; got {tuple(out.shape)}")


def _encoder_device(encoder: Encoder) -> torch.device:
    if isinstance(encoder, nn.Module):
        for p in encoder.parameters():
            return p.device
    return torch.device("cpu")


def extract_features(encoder: Encoder, data_dir: str | Path | EpisodeStore,
                     episodes: Sequence[int], frames_per_episode: int | None = None,
                     batch_size: int = 64, *, progress: bool = True,
                     desc: str = "features") -> tuple[torch.Tensor, np.ndarray]:
    """Encode frames of ``episodes`` one at a time with a frozen ``encoder``.

    Each frame is its own clip of one frame (``encode_frames`` with ``T = 1``), batched by
    ``batch_size``; ``frames_per_episode`` evenly spaced frames are taken from each episode (all
    with None). Returns ``(tokens [N, h*w, D] float32 on the CPU, states [N, S] float64)`` in
    episode then time order.
    """
    store = _open_store(data_dir)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    index = [(int(e), int(t)) for e in episodes
             for t in frame_indices(store.meta.steps + 1, frames_per_episode)]
    if not index:
        raise ValueError(f"no frames to encode from {store.data_dir} (episodes: {list(episodes)})")
    device = _encoder_device(encoder)
    was_training = encoder.training if isinstance(encoder, nn.Module) else None
    if was_training:
        encoder.eval()
    tokens, states = [], []
    try:
        with torch.inference_mode(), tqdm(total=len(index), desc=desc, unit="frame",
                                          disable=not progress, dynamic_ncols=True) as bar:
            for i in range(0, len(index), batch_size):
                chunk = index[i:i + batch_size]
                pixels = np.stack([store[e]["pixels"][t] for e, t in chunk])
                states.append(np.stack([store[e]["state"][t] for e, t in chunk]))
                frames = rearrange(torch.from_numpy(pixels), "b h w c -> b 1 c h w")
                out = _encode(encoder, frames_to_model(frames.to(device)))
                tokens.append(out.float().cpu())
                bar.update(len(chunk))
    finally:
        if was_training:
            encoder.train()
    return torch.cat(tokens), np.concatenate(states).astype(np.float64)


def probe_targets(store: EpisodeStore, states: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The task's probe targets (``env.probe_targets``) for simulator ``states [N, S]``."""
    from envs.registry import make_env_from_config

    env = make_env_from_config(store.meta.env)
    try:
        targets, names = env.probe_targets(states)
    finally:
        env.close()
    return np.asarray(targets, np.float64), list(names)


# ---------------------------------------------------------------------------------------- runs
@dataclasses.dataclass
class ProbeConfig:
    """Settings of ``wm probe``.

    Attributes:
        data_dir: dataset to probe on (train/val split by episode).
        encoder: a ``wm pretrain`` checkpoint (``which`` of its encoders is probed: the EMA
            ``target`` by default, or ``online``), or None to probe only a randomly initialised
            tiny encoder.
        out: directory for ``results.json`` and ``probe.md`` (None: write nothing).
        frames_per_episode: evenly spaced frames encoded per episode (None: all of them).
        steps / batch_size / lr / weight_decay: probe training on the cached features.
        include_random: also probe the same architecture with random weights (the baseline).
        label_fractions: shares of the training episodes whose labels a probe is trained on
            (V-JEPA's low-shot frozen evaluation): the first ``round(f * n)`` training episodes,
            so smaller shares are subsets of larger ones; the held-out episodes stay the same.
            ``rows`` holds the largest share, ``by_fraction`` every share.
        seeds: several probe seeds (each redraws the probe and the random-init encoder, as
            ``seed`` does): every row is then the mean over them, with ``r2_seeds`` listing each
            seed's R^2 and ``by_seed`` every seed's result; None runs ``seed`` alone.
        heads / num_queries / mlp_ratio: probe shape (heads is reduced to a divisor of the width).
        device: where encoders and probes run (``auto``: CUDA when available).
        threads: torch CPU threads; 0 leaves torch's default.
    """

    data_dir: str = "runs/reach/data"
    encoder: str | None = None
    out: str | None = None
    val_fraction: float = 0.2
    split_seed: int = 0
    frames_per_episode: int | None = 20
    steps: int = 600
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0
    seeds: tuple[int, ...] | None = None
    include_random: bool = True
    label_fractions: tuple[float, ...] = (1.0,)
    heads: int = 4
    num_queries: int = 1
    mlp_ratio: float = 0.0
    which: str = "target"            # encoder of the checkpoint: target (EMA) | online
    extract_batch_size: int = 64
    device: str = "auto"
    threads: int = 0
    progress: bool = True


def build_encoders(cfg: ProbeConfig, image_size: int) -> tuple[dict[str, Encoder], dict]:
    """The encoders ``run_probe`` compares: ``pretrained`` (from ``cfg.encoder``) and/or
    ``random_init`` (the same architecture, or the tiny preset without a checkpoint, initialised
    with seed ``cfg.seed``); plus the checkpoint's meta (empty without one)."""
    from worldmodel.models import VideoViT, vit_config
    from worldmodel.pretrain import load_encoder

    encoders: dict[str, Encoder] = {}
    meta: dict = {}
    if cfg.encoder is not None:
        encoder, meta = load_encoder(cfg.encoder, image_size=image_size, which=cfg.which)
        encoders["pretrained" if cfg.which == "target" else "pretrained_online"] = encoder
        arch = encoder.cfg
    else:
        arch = vit_config("tiny", image_size=image_size, num_frames=2)
    if cfg.include_random:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            random_encoder = VideoViT(arch)
        random_encoder.requires_grad_(False)
        encoders["random_init"] = random_encoder.eval()
    if not encoders:
        raise ValueError("nothing to probe: give encoder=<checkpoint of wm pretrain> or set "
                         "include_random=true")
    return encoders, meta


def probe_encoders(encoders: Mapping[str, Encoder], cfg: ProbeConfig,
                   store: EpisodeStore | None = None,
                   features: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Probe each of ``encoders`` (name -> encoder, see :data:`Encoder`) on ``cfg.data_dir``.

    ``features``, when given, memoises each encoder's extracted tokens by name across calls on the
    same data and split (so a caller probing the same frozen encoder at several probe seeds
    encodes its frames once); the caller drops an entry whose encoder it redraws.

    Splits by episode, computes the task's probe targets, standardises them with the training
    mean/std, extracts and caches each encoder's frozen tokens, trains one probe per encoder and
    scores R^2 on the held-out episodes. Returns ``{"task", "targets", "rows": {name: {"r2",
    "r2_per_target", "train_r2", "feature_rank", ...}}, "train_frames", "val_frames", ...}``;
    writes nothing. ``feature_rank`` is the effective rank (RankMe) of the held-out frames'
    token-pooled features: a label-free score of how many directions they vary along.
    """
    if not encoders:
        raise ValueError("probe_encoders: no encoders given")
    store = store if store is not None else EpisodeStore(cfg.data_dir)
    if not 0.0 < cfg.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1) to hold episodes out, "
                         f"got {cfg.val_fraction}")
    if len(store) < 2:
        raise ValueError(f"dataset {str(store.data_dir)!r} has {len(store)} episode(s); the probe "
                         f"needs at least 2 to hold whole episodes out for validation")
    train_eps, val_eps = split_episodes(len(store), cfg.val_fraction, cfg.split_seed)
    shares = label_shares(cfg.label_fractions, len(train_eps))
    fpe = cfg.frames_per_episode
    frames_per_ep = len(frame_indices(store.meta.steps + 1, fpe))  # as extract_features takes them
    common = dict(frames_per_episode=fpe, batch_size=cfg.extract_batch_size,
                  progress=cfg.progress)
    by_fraction: dict[str, dict[str, dict[str, Any]]] = {str(f): {} for f, _ in shares}
    names: list[str] = []
    raw_train = raw_val = None
    features = {} if features is None else features
    for name, encoder in encoders.items():
        if name not in features:
            t0 = time.perf_counter()
            x_train, s_train = extract_features(encoder, store, train_eps,
                                                desc=f"{name} train", **common)
            x_val, s_val = extract_features(encoder, store, val_eps, desc=f"{name} val", **common)
            features[name] = (x_train, s_train, x_val, s_val, time.perf_counter() - t0,
                              effective_rank(x_val.mean(dim=1)))  # label-free: RankMe, pooled
        x_train, s_train, x_val, s_val, extract_s, rank = features[name]
        if raw_train is None:
            raw_train, names = probe_targets(store, s_train)
            raw_val, _ = probe_targets(store, s_val)
        for fraction, episodes in shares:
            n = episodes * frames_per_ep  # frames are in episode, then time order
            row = _fit_and_score(x_train[:n], raw_train[:n], x_val, raw_val, names, cfg,
                                 _encoder_device(encoder))
            row.update(tokens=int(x_train.shape[1]), feature_dim=int(x_train.shape[2]),
                       extract_s=round(extract_s, 3), train_episodes=episodes,
                       feature_rank=round(rank, 2))
            by_fraction[str(fraction)][name] = row
    top_fraction, top_episodes = shares[-1]
    return {"task": store.meta.task, "data_dir": str(store.data_dir), "targets": names,
            "rows": by_fraction[str(top_fraction)], "by_fraction": by_fraction,
            "train_frames": top_episodes * frames_per_ep, "val_frames": int(len(raw_val)),
            "train_episodes": top_episodes, "val_episodes": len(val_eps)}


def label_shares(fractions: Sequence[float], num_train: int) -> list[tuple[float, int]]:
    """``(fraction, training episodes)`` for each label fraction, ascending; ``ValueError`` for a
    fraction outside ``(0, 1]`` or none at all. At least one episode per share."""
    if isinstance(fractions, (int, float)):
        fractions = [fractions]
    try:
        shares = sorted({float(f) for f in fractions})
    except (TypeError, ValueError):
        shares = []
    if not shares or not all(0.0 < f <= 1.0 for f in shares):
        raise ValueError(f"label_fractions must be shares in (0, 1], got {fractions!r}")
    return [(f, max(1, min(num_train, round(f * num_train)))) for f in shares]


def _fit_and_score(x_train: torch.Tensor, raw_train: np.ndarray, x_val: torch.Tensor,
                   raw_val: np.ndarray, names: Sequence[str], cfg: ProbeConfig,
                   device: torch.device) -> dict[str, Any]:
    """Standardise the targets with the training labels' mean/std, fit one probe, score R^2."""
    mean, std = raw_train.mean(0), raw_train.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    y_train = torch.from_numpy((raw_train - mean) / std).float()
    y_val = torch.from_numpy((raw_val - mean) / std).float()
    t0 = time.perf_counter()
    probe = fit_probe(x_train, y_train, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      weight_decay=cfg.weight_decay, seed=cfg.seed, heads=cfg.heads,
                      num_queries=cfg.num_queries, mlp_ratio=cfg.mlp_ratio, device=device)
    train_s = time.perf_counter() - t0
    r2_val = r2_score(predict(probe, x_val), y_val)
    r2_train = r2_score(predict(probe, x_train), y_train)
    return {"r2": float(r2_val.mean()),
            "r2_per_target": {n: float(v) for n, v in zip(names, r2_val)},
            "train_r2": float(r2_train.mean()), "train_s": round(train_s, 3)}


def mean_over_seeds(results: Sequence[Mapping[str, Any]],
                    seeds: Sequence[int]) -> dict[str, Any]:
    """One result from :func:`probe_encoders` results of the same data at several probe
    ``seeds``: each row's scores averaged, ``r2_seeds`` holding each seed's R^2."""
    merged = dict(results[0])
    by_fraction = {}
    for fraction, rows in results[0]["by_fraction"].items():
        by_fraction[fraction] = {}
        for name, first in rows.items():
            each = [r["by_fraction"][fraction][name] for r in results]
            row = dict(first)
            row["r2"] = float(np.mean([e["r2"] for e in each]))
            row["train_r2"] = float(np.mean([e["train_r2"] for e in each]))
            row["r2_per_target"] = {t: float(np.mean([e["r2_per_target"][t] for e in each]))
                                    for t in first["r2_per_target"]}
            row["feature_rank"] = round(float(np.mean([e["feature_rank"] for e in each])), 2)
            row["r2_seeds"] = [e["r2"] for e in each]
            by_fraction[fraction][name] = row
    top = list(by_fraction)[-1]
    merged.update(by_fraction=by_fraction, rows=by_fraction[top], seeds=list(seeds),
                  by_seed={str(s): r for s, r in zip(seeds, results)})
    return merged


def format_table(result: Mapping[str, Any]) -> str:
    """A markdown table of a :func:`probe_encoders` result: one row per encoder (and label share,
    when several were probed)."""
    names = list(result["targets"])
    by_fraction = result["by_fraction"]
    several = len(by_fraction) > 1
    seeds = result.get("seeds")
    lines = [f"Attentive probe on frozen features: task `{result['task']}`, "
             f"{result['train_frames']} train / {result['val_frames']} held-out frames "
             f"({result['train_episodes']} / {result['val_episodes']} episodes); R^2 on held-out "
             f"episodes (1 = perfect, 0 = predicting the mean)"
             + (f"; means over probe seeds {', '.join(map(str, seeds))}." if seeds else "."), "",
             "| encoder | " + ("labels (train episodes) | " if several else "") + "R^2 (mean) | "
             + ("R^2 per seed | " if seeds else "") + " | ".join(names)
             + " | train R^2 | feature rank |",
             "|---|" + ("---:|" if several else "") + "---:|" + ("---:|" if seeds else "")
             + "---:|" * len(names) + "---:|---:|"]
    for fraction, rows in by_fraction.items():
        for enc, row in rows.items():
            share = f"{float(fraction):.0%} ({row['train_episodes']}) | " if several else ""
            per = " | ".join(f"{row['r2_per_target'][n]:.3f}" for n in names)
            rank = row.get("feature_rank")
            each = (" / ".join(f"{v:.3f}" for v in row["r2_seeds"]) + " | ") if seeds else ""
            lines.append(f"| {enc} | {share}{row['r2']:.3f} | {each}{per} | "
                         f"{row['train_r2']:.3f} | "
                         + (f"{rank:.1f} |" if rank is not None else "- |"))
    return "\n".join(lines) + "\n"


def run_probe(cfg: ProbeConfig) -> dict[str, Any]:
    """Probe the checkpoint's encoder (if any) and a random-init one on ``cfg.data_dir``; write
    ``results.json`` and ``probe.md`` to ``cfg.out`` (if set), print the table, return the result.
    """
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    store = EpisodeStore(cfg.data_dir)
    device = resolve_device(cfg.device)
    seeds = [int(s) for s in cfg.seeds] if cfg.seeds else [cfg.seed]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(cfg.seeds)}")
    results, features = [], {}
    for seed in seeds:
        seed_cfg = dataclasses.replace(cfg, seed=seed)
        encoders, meta = build_encoders(seed_cfg, store.meta.image_size)
        for encoder in encoders.values():
            encoder.to(device)
        features.pop("random_init", None)    # redrawn with each seed; the checkpoint's is not
        results.append(probe_encoders(encoders, seed_cfg, store, features))
    result = mean_over_seeds(results, seeds) if cfg.seeds else results[0]
    result["encoder"] = cfg.encoder
    if meta:
        result["encoder_meta"] = {k: meta[k] for k in ("tasks", "data_dirs", "image_size",
                                                       "num_frames") if k in meta}
    result["config"] = dataclasses.asdict(cfg)
    table = format_table(result)
    print(table, end="")
    if cfg.out is not None:
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "results.json", result)
        write_text_atomic(out / "probe.md", table)
        print(f"probe results: {out / 'results.json'}, {out / 'probe.md'}")
    return result


def probe_command(cfg) -> dict[str, Any]:
    """``wm probe``: the Hydra config -> :class:`ProbeConfig` -> :func:`run_probe`."""
    from worldmodel.config import from_config

    return run_probe(from_config(ProbeConfig, cfg))
