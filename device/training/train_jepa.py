"""Train the JEPA latent predictor self-supervised on recorded sessions (`ami train jepa`).

Objective, per batch of (t, t+k) pairs: 25 * ||predict(s_t, a) - s_{t+k}||^2 / D, plus VICReg's
variance (25 * mean hinge of each latent dimension's std below 1) and covariance (1 * the
squared off-diagonal covariances / D) terms on s_t and s_{t+k}, plus an inverse-dynamics term
(5 * the error of a training-only head that recovers the action from (s_t, s_{t+k})): without it
the latent kept how much the view changed but not which way, and the predictor ignored the turn's
sign. Half the pairs are mirrored left-right (cells and action). Gradients flow through both
branches, as in VICReg and PLDM. We chose the variance-covariance regularizer over an EMA target
because it prevents collapse by construction (no teacher schedule to tune on a 10-session set
trained for minutes on a CPU) and it pins every latent dimension's spread near 1, so the planning
energy (a squared distance in this space) has a known scale.

Collapse is watched on the validation sessions after every epoch: the latents' per-dimension std
and their effective rank, beside the prediction error of the predictor and of the two baselines
("nothing changes" and the training-set mean). Outputs, written atomically: jepa-v1.pt, a JSON
card jepa-v1.json, and the loss plot jepa-v1-loss.png.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from device.perception.encoder import EncoderRuntime
from device.errors import OutputError
from device.session import Session, read_session, write_text_atomic
from worldmodel.jepa import CHECKPOINT_VERSION, JepaConfig, LatentPredictor, checkpoint_bytes
from device.training.jepa_data import DEFAULT_CACHE, PairConfig, Pairs, effective_rank, encode_all, session_cells, stack

log = logging.getLogger(__name__)
CHECKPOINT_NAME = f"jepa-v{CHECKPOINT_VERSION}"


@dataclass(frozen=True)
class TrainConfig:
    sessions: tuple[Path, ...]  # training session folders
    val_sessions: tuple[Path, ...]  # validation session folders (development seeds, never held-out)
    train_seeds: tuple[int, ...] = ()  # the seeds those folders were recorded from, when known (for the card)
    val_seeds: tuple[int, ...] = ()
    model: JepaConfig = JepaConfig()
    pairs: PairConfig = PairConfig()
    epochs: int = 4  # early stopping keeps the best; validation error rose after 2-3 epochs of 10 houses
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    pred_weight: float = 25.0  # VICReg's invariance weight, here on the prediction error
    var_weight: float = 25.0
    cov_weight: float = 1.0
    inverse_weight: float = 5.0  # inverse dynamics: (s_t, s_{t+k}) must reveal the action, or the latent drops
    # the left/right layout and the predictor ignores which way you turn (measured: 0.0291 vs 0.0292 reversed)
    frame_step: int = 1  # encode every frame_step-th frame (tests use more to be quick)
    mirror: bool = True  # half the pairs mirrored left-right, cells and action (right, turn negated);
    # on 10 houses it lowered the best validation error from 0.86 to 0.83 of "nothing changes"
    seed: int = 0
    cache: Path = DEFAULT_CACHE
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.sessions:
            raise ValueError("TrainConfig.sessions: give at least one training session")
        if not self.val_sessions:
            raise ValueError("TrainConfig.val_sessions: give at least one validation session")
        if overlap := set(map(Path.resolve, self.sessions)) & set(map(Path.resolve, self.val_sessions)):
            raise ValueError(f"TrainConfig: sessions used for both training and validation: "
                             f"{sorted(map(str, overlap))}")
        if bad := [s for s in (*self.train_seeds, *self.val_seeds) if not 0 <= s <= 99]:
            raise ValueError(f"TrainConfig seeds must be development seeds 0-99 (held-out seeds are never "
                             f"trained on), got {bad}")
        for name in ("epochs", "batch", "frame_step"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path
    card: Path
    plot: Path
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (epoch 0: before training)
    best_epoch: int = 0  # the epoch whose weights were kept (lowest validation error relative to identity)
    wall_s: float = 0.0


def vicreg_terms(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) -> (variance hinge, covariance penalty) of VICReg (Bardes et al. 2022)."""
    z = z - z.mean(dim=0)
    std = torch.sqrt(z.var(dim=0) + 1e-4)
    var = torch.relu(1.0 - std).mean()
    cov = (z.T @ z) / (z.shape[0] - 1)  # (D, D)
    off = cov - torch.diag(torch.diagonal(cov))
    return var, off.pow(2).sum() / z.shape[1]


def _load(sessions: list[Session], encoder: EncoderRuntime, config: TrainConfig) -> tuple[torch.Tensor, Pairs]:
    data = [session_cells(s, encoder, config.model, config.frame_step, config.cache, config.progress)
            for s in sessions]
    cells, pairs = stack(data, config.pairs)
    return torch.from_numpy(cells), pairs  # float16 (T, cells, C)


def _mirror(x: torch.Tensor, x_next: torch.Tensor, a: torch.Tensor, g: int,
            flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mirror the rows in `flip`: (B, g*g, C) cells left-right, and the action's right_m and turn_deg."""
    def mirror_cells(c: torch.Tensor) -> torch.Tensor:
        m = c.reshape(len(c), g, g, -1).flip(2).reshape(c.shape)
        return torch.where(flip[:, None, None], m, c)

    a = torch.where(flip[:, None], a * torch.tensor([1.0, -1.0, -1.0]), a)
    return mirror_cells(x), mirror_cells(x_next), a


@torch.no_grad()
def evaluate(model: LatentPredictor, cells: torch.Tensor, pairs: Pairs, mean_latent: torch.Tensor) -> dict[str, float]:
    """Prediction error per latent dimension on pairs, beside the two baselines; std and rank."""
    model.eval()
    z = encode_all(model, cells)  # (T, D)
    s, s_next = z[pairs.i], z[pairs.j]
    a = torch.from_numpy(pairs.actions)
    pred = model.predict(s, a)
    reversed_turn = model.predict(s, a * torch.tensor([1.0, 1.0, -1.0]))  # does it matter which way you turn?
    return {"pred_mse": float((pred - s_next).pow(2).mean()),
            "reversed_turn_mse": float((reversed_turn - s_next).pow(2).mean()),
            "identity_mse": float((s - s_next).pow(2).mean()),
            "mean_mse": float((mean_latent - s_next).pow(2).mean()),
            "std": float(z.std(dim=0).mean()),
            "effective_rank": effective_rank(z)}


def _ratio(row: dict[str, float]) -> float:
    """Validation prediction error relative to "nothing changes": below 1 the predictor helps."""
    return row["val_pred_mse"] / max(row["val_identity_mse"], 1e-12)


def _plot(history: list[dict[str, float]], best_epoch: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    tr = [h for h in history if "train_loss" in h]
    a.plot([h["epoch"] for h in tr], [h["train_loss"] for h in tr], label="train: total")
    a.plot([h["epoch"] for h in tr], [h["train_pred"] for h in tr], label="train: prediction term")
    a.plot(ep, [h["val_pred_mse"] for h in history], label="val: predictor")
    a.plot(ep, [h["val_identity_mse"] for h in history], "--", label="val: nothing changes")
    a.axvline(best_epoch, color="grey", linestyle=":", label=f"kept (epoch {best_epoch})")
    a.set_yscale("log")
    a.set_xlabel("epoch")
    a.set_ylabel("loss / MSE per dim")
    a.legend()
    b.plot(ep, [h["val_std"] for h in history], label="val latent std (mean over dims)")
    b2 = b.twinx()
    b2.plot(ep, [h["val_effective_rank"] for h in history], "r", label="val effective rank")
    b.set_xlabel("epoch")
    b.set_ylabel("std")
    b2.set_ylabel("effective rank", color="r")
    b.legend(loc="lower right")
    fig.suptitle("JEPA latent predictor training (collapse: std -> 0, rank -> 1)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the checkpoint ({e.strerror})") from e


def _encoder_meta() -> dict[str, Any]:
    from device.perception.encoder_manifest import read_manifest
    from device.perception.encoder_pte import DEFAULT_MANIFEST

    m = read_manifest(DEFAULT_MANIFEST)
    return {"model": m.model, "source_weights_sha256": m.source_weights["sha256"],
            "programs": {k: v.sha256 for k, v in m.programs.items()}}


def train_jepa(out: Path, config: TrainConfig) -> TrainResult:
    """Train, then write out/jepa-v1.pt, jepa-v1.json and jepa-v1-loss.png; return their paths."""
    from tqdm import tqdm

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the output folder ({e.strerror})") from e
    t0, cpu0 = time.perf_counter(), time.process_time()
    from device.perception.encoder import EncoderConfig, make_encoder

    train_sessions = [read_session(p) for p in config.sessions]  # all validated before minutes of encoding
    val_sessions = [read_session(p) for p in config.val_sessions]
    encoder = make_encoder(EncoderConfig(threads=1))
    config = replace(config, model=replace(config.model, patch_dim=encoder.dim))  # the predictor reads this encoder
    cells, pairs = _load(train_sessions, encoder, config)
    val_cells, val_pairs = _load(val_sessions, encoder, config)
    model = LatentPredictor(config.model)
    d = config.model.latent_dim
    inverse = torch.nn.Sequential(torch.nn.Linear(2 * d, 256), torch.nn.GELU(), torch.nn.Linear(256, 4))  # not saved
    params = [*model.parameters(), *inverse.parameters()]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * max(1, len(pairs.i) // config.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.1)
    actions = torch.from_numpy(pairs.actions)

    def val_row(epoch: int) -> dict[str, float]:
        with torch.no_grad():
            mean_latent = encode_all(model, cells).mean(dim=0)
        metrics = evaluate(model, val_cells, val_pairs, mean_latent)
        return {"epoch": epoch, **{f"val_{k}": v for k, v in metrics.items()}}

    history = [val_row(0)]
    best_epoch, best_state = 0, copy.deepcopy(model.state_dict())
    bar = tqdm(total=steps, desc="train jepa", unit="step", disable=not config.progress)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(pairs.i))
        sums = np.zeros(5)
        n = len(order) // config.batch
        for b in range(n):
            idx = order[b * config.batch:(b + 1) * config.batch]
            x, x_next, a = cells[pairs.i[idx]].float(), cells[pairs.j[idx]].float(), actions[idx]
            if config.mirror:
                x, x_next, a = _mirror(x, x_next, a, config.model.pooled_grid, torch.rand(len(idx)) < 0.5)
            s = model.encode_cells(x)  # (B, D)
            s_next = model.encode_cells(x_next)
            pred = (model.predict(s, a) - s_next).pow(2).mean()
            v0, c0 = vicreg_terms(s)
            v1, c1 = vicreg_terms(s_next)
            var, cov = (v0 + v1) / 2, (c0 + c1) / 2
            inv = (inverse(torch.cat([s, s_next], dim=1)) - model.action_features(a)).pow(2).mean()
            loss = (config.pred_weight * pred + config.var_weight * var + config.cov_weight * cov
                    + config.inverse_weight * inv)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            sums += [loss.item(), pred.item(), var.item(), cov.item(), inv.item()]
            bar.update(1)
        row = {"train_loss": float(sums[0] / n), "train_pred": float(sums[1] / n), "train_var": float(sums[2] / n),
               "train_cov": float(sums[3] / n), "train_inverse": float(sums[4] / n),
               **val_row(epoch)}
        history.append(row)
        if best_epoch == 0 or _ratio(row) < _ratio(history[best_epoch]):  # early stopping on the dev validation seeds
            best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_vs_identity=f"{_ratio(row):.2f}",
                        rank=f"{row['val_effective_rank']:.0f}")
        log.info("epoch %d: %s", epoch, row)
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    wall_s = time.perf_counter() - t0
    final = history[best_epoch]
    if final["val_std"] < 0.1 or final["val_effective_rank"] < 2.0:
        log.warning("JEPA latents look collapsed (std %.3f, effective rank %.1f)", final["val_std"],
                    final["val_effective_rank"])
    meta = {"trained": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "encoder": _encoder_meta(),
            "train_sessions": [Path(p).name for p in config.sessions], "train_seeds": list(config.train_seeds),
            "val_sessions": [Path(p).name for p in config.val_sessions], "val_seeds": list(config.val_seeds),
            "train": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
                      if k not in ("sessions", "val_sessions", "train_seeds", "val_seeds", "cache", "progress")},
            "pairs": {"train": int(len(pairs.i)), "val": int(len(val_pairs.i)), "train_frames": int(len(cells))},
            "best_epoch": best_epoch, "metrics": final, "wall_s": round(wall_s, 1),
            "cpu_s": round(time.process_time() - cpu0, 1),
            "train_mean_latent": [round(float(v), 5) for v in encode_all(model, cells).mean(dim=0).detach()]}
    meta = json.loads(json.dumps(meta))  # plain JSON values only: the checkpoint loads with weights_only=True
    data = checkpoint_bytes(model, meta)
    ckpt = out / f"{CHECKPOINT_NAME}.pt"
    _write_bytes_atomic(ckpt, data)
    card = out / f"{CHECKPOINT_NAME}.json"
    write_text_atomic(card, json.dumps({"file": ckpt.name, "sha256": hashlib.sha256(data).hexdigest(),
                                        "bytes": len(data), "config": asdict(config.model), **meta,
                                        "history": history}, indent=2) + "\n")
    plot = out / f"{CHECKPOINT_NAME}-loss.png"
    _plot(history, best_epoch, plot)
    return TrainResult(checkpoint=ckpt, card=card, plot=plot, history=history, best_epoch=best_epoch, wall_s=wall_s)

