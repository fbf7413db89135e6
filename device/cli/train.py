"""`ami train ...`: train the learned parts on recorded development sessions.

`ami train jepa` trains the JEPA latent predictor (device/training/train_jepa.py) and writes a versioned
checkpoint, a JSON card and a loss plot. Sessions come from development seeds (0-99) in
--sessions-dir, recorded with `ami record-sim` when a seed's folder is missing, or are given as
folders. Held-out seeds (1000+) are refused: they are for benchmarks only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from device.errors import AmiError

DEFAULT_TRAIN_SEEDS = [*range(10), *range(12, 22)]
DEFAULT_CACHE = Path("out/jepa-cache")
DEFAULT_VAL_SEEDS = [10, 11]


def seed_sessions(seeds: list[int], folder: Path, progress: bool) -> tuple[Path, ...]:
    """The session folder of each seed in `folder`; a missing one is recorded first (full length)."""
    from device.sim.record import RecordConfig, recorded

    return tuple(recorded(folder / f"seed-{seed}", RecordConfig(seed=seed), progress) for seed in seeds)


def _cmd_train_jepa(args: argparse.Namespace) -> int:
    import torch

    from device.training.train_jepa import TrainConfig, train_jepa

    torch.set_num_threads(1)
    bad = [s for s in (*args.seeds, *args.val_seeds) if not 0 <= s <= 99]
    if bad:
        raise AmiError(f"--seeds/--val-seeds: {bad} are not development seeds (0-99); held-out seeds are "
                       "for benchmarks only")
    progress = not args.quiet
    train = tuple(args.sessions) or seed_sessions(args.seeds, args.sessions_dir, progress)
    val = tuple(args.val_sessions) or seed_sessions(args.val_seeds, args.sessions_dir, progress)
    try:
        config = TrainConfig(sessions=train, val_sessions=val, epochs=args.epochs, progress=progress,
                             frame_step=args.frame_step, cache=args.cache,
                             train_seeds=() if args.sessions else tuple(args.seeds),
                             val_seeds=() if args.val_sessions else tuple(args.val_seeds))
    except ValueError as e:
        raise AmiError(str(e)) from e
    result = train_jepa(args.out, config)
    m = result.history[result.best_epoch]
    print(f"validation (epoch {result.best_epoch}, kept): prediction MSE/dim {m['val_pred_mse']:.4f} "
          f"(turn reversed {m['val_reversed_turn_mse']:.4f}, nothing changes {m['val_identity_mse']:.4f}, "
          f"the mean {m['val_mean_mse']:.4f}); latent std {m['val_std']:.2f}, effective rank "
          f"{m['val_effective_rank']:.1f} of {config.model.latent_dim}")
    print(f"Wrote {result.checkpoint}, {result.card} and {result.plot} in {result.wall_s / 60:.1f} min")
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `train` command and its subcommands to the `ami` parser."""
    p = sub.add_parser("train", help="train the learned parts: the JEPA latent predictor, the perception instance head",
                       description="Train a model on recorded development sessions.")
    tsub = p.add_subparsers(dest="train_command", required=True, metavar="SUBCOMMAND")

    sp = tsub.add_parser("jepa", help="train the JEPA latent predictor; write checkpoint, card and loss plot",
                         description="Self-supervised training of the latent predictor (s_t, a_t) -> s_{t+1} "
                                     "with a VICReg variance-covariance regularizer, on frame pairs of "
                                     "recorded sessions. Writes jepa-v1.pt, jepa-v1.json and jepa-v1-loss.png.")
    sp.add_argument("--out", type=Path, default=Path("out/jepa"),
                    help="output folder (default: out/jepa; worldmodel/artifacts replaces the shipped model)")
    sp.add_argument("--epochs", type=int, default=4,
                    help="passes over the training pairs; the best on validation is kept (default: 4)")
    sp.add_argument("--seeds", type=int, nargs="+", default=DEFAULT_TRAIN_SEEDS,
                    help="development seeds to train on (default: 0-9 and 12-21)")
    sp.add_argument("--val-seeds", type=int, nargs="+", default=DEFAULT_VAL_SEEDS,
                    help="development seeds to validate on (default: 10 11)")
    sp.add_argument("--sessions-dir", type=Path, default=Path("out/train-sessions"),
                    help="where seed-N session folders are (recorded if missing; default: out/train-sessions)")
    sp.add_argument("--sessions", type=Path, nargs="+", default=[],
                    help="train on these session folders instead of --seeds")
    sp.add_argument("--val-sessions", type=Path, nargs="+", default=[],
                    help="validate on these session folders instead of --val-seeds")
    sp.add_argument("--frame-step", type=int, default=1,
                    help="use every N-th frame (default: 1; larger is quicker and coarser)")
    sp.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                    help="encoder feature cache (default: out/jepa-cache; reruns skip encoding)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_train_jepa)

    from device.cli.perception import register as register_perception

    register_perception(tsub)
