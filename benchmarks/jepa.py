"""Benchmark the shipped JEPA latent predictor on held-out sessions against two baselines.

For every pair of frames (t, t+k) of the held-out sessions whose action is within the trained step
limits (device/training/jepa_data.py: at most 0.5 m and 45 degrees, pitch change at most 5 degrees),
grouped by k, it compares the squared error per latent dimension of:
- the predictor: predict(s_t, a) against s_{t+k};
- "nothing changes": s_t itself;
- "the mean": the training sessions' mean latent.
It also rolls the predictor out over H chained 2-frame actions, and reports the latents' std and
effective rank on the held-out frames (collapse would show as std -> 0 and rank -> 1). The
sessions of seeds 1000-1004 are read from out/bench/sessions (recorded there by
benchmarks/baseline.py) and never written. Run:

    .venv/bin/python benchmarks/jepa.py --seeds 1000-1004
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

from report import ROOT, parse_seeds, write_section

HELD_OUT = "1000-1004"
GAPS = (1, 2, 4, 8)  # frames apart at 10 fps
HORIZONS = (1, 2, 4)  # chained 2-frame actions
HEADING = "## JEPA latent predictor (issue 6)"


def _row(name: str, err: dict[str, float], extra: str) -> str:
    ratio = err["pred"] / max(err["identity"], 1e-12)
    rev = f"{err['reversed']:.4f}" if "reversed" in err else "-"
    return (f"| {name} | {extra} | {err['pred']:.4f} | {rev} | {err['identity']:.4f} | {err['mean']:.4f} | "
            f"{ratio:.2f} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=HELD_OUT, help=f"held-out seeds (default: {HELD_OUT})")
    ap.add_argument("--sessions-dir", type=Path, default=ROOT / "out" / "bench" / "sessions",
                    help="where the seed-N sessions are (read-only)")
    ap.add_argument("--checkpoint", type=Path, default=None,
                    help="default: the shipped worldmodel/artifacts/jepa-v1.pt")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from device.perception.encoder import EncoderConfig, make_encoder
    from device.session import read_session
    from worldmodel.jepa import load_predictor
    from device.training.jepa_data import PairConfig, effective_rank, encode_all, session_cells, session_pairs

    model = load_predictor(args.checkpoint)
    meta = model.meta
    encoder = make_encoder(EncoderConfig(threads=1))
    mean_latent = torch.tensor(meta["train_mean_latent"])  # "the mean" baseline: over the training frames

    seeds = parse_seeds(args.seeds)
    keys = ("pred", "reversed", "identity", "mean", "fwd", "turn")
    sums: dict[int, dict[str, list[float]]] = {g: {k: [] for k in keys} for g in GAPS}
    roll: dict[int, dict[str, list[float]]] = {h: {"pred": [], "identity": [], "mean": []} for h in HORIZONS}
    latents = []
    for seed in seeds:
        data = session_cells(read_session(args.sessions_dir / f"seed-{seed}"), encoder, model.config)
        with torch.no_grad():
            z = encode_all(model, torch.from_numpy(data.cells))  # (T, D)
        latents.append(z)
        pairs = session_pairs(data, PairConfig())
        gap = pairs.j - pairs.i
        with torch.no_grad():
            for g in GAPS:
                sel = gap == g
                s, s_next = z[pairs.i[sel]], z[pairs.j[sel]]
                a = torch.from_numpy(pairs.actions[sel])
                sums[g]["pred"] += (model.predict(s, a) - s_next).pow(2).mean(1).tolist()
                flipped = a * torch.tensor([1.0, 1.0, -1.0])  # the same step turning the other way
                sums[g]["reversed"] += (model.predict(s, flipped) - s_next).pow(2).mean(1).tolist()
                sums[g]["identity"] += (s - s_next).pow(2).mean(1).tolist()
                sums[g]["mean"] += (mean_latent - s_next).pow(2).mean(1).tolist()
                sums[g]["fwd"] += pairs.actions[sel, 0].tolist()
                sums[g]["turn"] += np.abs(pairs.actions[sel, 2]).tolist()
            step = {int(i): (int(j), a) for i, j, a in zip(pairs.i, pairs.j, pairs.actions) if j - i == 2}
            for h in HORIZONS:  # chains t -> t+2 -> ... -> t+2h whose every step is a valid pair
                starts, acts, ends = [], [], []
                for i0 in step:
                    i, chain = i0, []
                    for _ in range(h):
                        if i not in step:
                            break
                        i, a = step[i]
                        chain.append(a)
                    if len(chain) == h:
                        starts.append(i0)
                        acts.append(np.stack(chain))
                        ends.append(i)
                if not starts:
                    continue
                s0, s_end = z[starts], z[ends]
                out = model.rollout(s0, torch.from_numpy(np.stack(acts)))[:, -1]
                roll[h]["pred"] += (out - s_end).pow(2).mean(1).tolist()
                roll[h]["identity"] += (s0 - s_end).pow(2).mean(1).tolist()
                roll[h]["mean"] += (mean_latent - s_end).pow(2).mean(1).tolist()
        print(f"seed {seed}: {len(data.cells)} frames, {len(pairs.i)} pairs", file=sys.stderr)

    z_all = torch.cat(latents)
    std, rank = float(z_all.std(dim=0).mean()), effective_rank(z_all)
    mean = {g: {k: float(np.mean(v)) for k, v in d.items()} for g, d in sums.items()}
    rmean = {h: {k: float(np.mean(v)) for k, v in d.items()} for h, d in roll.items() if d["pred"]}
    command = f".venv/bin/python benchmarks/jepa.py --seeds {args.seeds}"
    m = meta.get("metrics", {})
    lines = [
        f"Measured {dt.date.today().isoformat()} with `{command}`: the shipped `worldmodel/artifacts/jepa-v1.pt` "
        f"({model.version}, trained by `ami train jepa` on development seeds {meta.get('train_seeds')}, validated on "
        f"{meta.get('val_seeds')}) on held-out seeds {args.seeds} ({len(seeds)} sessions, {len(z_all)} frames, "
        "every frame encoded by the shipped fp32 `.pte` on 1 thread). Errors are squared distances per latent "
        "dimension (the surprise / planning energy), averaged over all pairs of frames k apart whose action is "
        "within 0.5 m and 45 degrees and whose pitch changes by at most 5 degrees. Ratio: predictor / nothing changes "
        "(below 1 beats it). \"Turn reversed\" feeds the same step with the opposite turn: if it is no worse than the "
        "true action, the predictor does not know which way the view turns, and a planner cannot steer by it.",
        "",
        "| step | mean forward (m) / mean abs turn (deg), pairs | predictor | predictor, turn reversed | "
        "nothing changes | the mean | ratio |",
        "|---|---|---|---|---|---|---|",
        *[_row(f"k = {g} frame{'s' if g > 1 else ''} ({g / 10:.1f} s)", mean[g],
               f"{mean[g]['fwd']:.2f} / {mean[g]['turn']:.1f}, {len(sums[g]['pred'])}") for g in GAPS],
        *[_row(f"rollout of {h} x 2-frame actions", rmean[h], f"{len(roll[h]['pred'])} chains")
          for h in HORIZONS if h in rmean],
        "",
        f"Collapse check on the held-out frames: latent std {std:.2f} per dimension (mean over "
        f"{model.config.latent_dim}; VICReg pushes it to 1), effective rank {rank:.1f} of {model.config.latent_dim} "
        f"(exp of the entropy of the normalised singular values). At the end of training, on validation seeds: "
        f"std {m.get('val_std', float('nan')):.2f}, effective rank {m.get('val_effective_rank', float('nan')):.1f}; "
        f"`ami train jepa` took {meta.get('wall_s', float('nan')) / 60:.1f} min of wall time "
        f"({meta.get('cpu_s', float('nan')) / 60:.1f} min of CPU on 1 thread) on the shared 2-core machine, "
        "encoding included when out/jepa-cache did not hold the frames (about 6 ms per frame on 1 thread: about "
        f"{meta.get('pairs', {}).get('train_frames', 0) * 0.006 / 60:.0f} min).",
        "",
        "Chosen on the validation seeds 10-11 only (development), when the encoder was the frozen trunk (96-d "
        "patches): mirrored pairs (best validation error 0.86 -> 0.83 "
        "of \"nothing changes\" on 10 houses), 20 training houses instead of 10 (-> 0.64), and an inverse-dynamics "
        "term (a training-only head must recover the action from (s_t, s_t+k)): without it the predictor used how far "
        "the wearer moved but not which way they turned (validation error 0.0291 with the true action, 0.0292 with the "
        "turn reversed); with it 0.0305 vs 0.0385, and 0.58 of \"nothing changes\". The effective rank is about a "
        "quarter of the latent size: not collapsed, but the latent uses far fewer directions than it has. Since the "
        "instance head became the encoder (64-d cells trained to find one object again across views), the predictor "
        "is trained with the same settings on the same seeds. On the frozen trunk's patches it beat \"nothing "
        "changes\" by more (0.49 at k = 4) and knew which way the view turns (turn reversed 0.0379 vs 0.0309 at "
        "k = 4, 2026-11-29 run); on the head's cells the turn barely matters to it (the table above): the cells keep "
        "what is in view more than where.",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section("jepa", section, HEADING)
    return 0


if __name__ == "__main__":
    sys.exit(main())
