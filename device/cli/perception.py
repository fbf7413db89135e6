"""`ami train perception`: train the instance head (issue 8) on recorded development sessions.

Registered under `ami train` by device/cli/train.py. Writes a versioned checkpoint
(instance_head-v1-DATE.pt, atomically) and its loss plot; copy the checkpoint to
worldmodel/artifacts/instance_head.pt to ship it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from device.errors import AmiError


def _cmd_train_perception(args: argparse.Namespace) -> int:
    import torch

    from device.training.perception_train import PerceptionTrainConfig, run_training
    from worldmodel.train_perception import TrainConfig

    torch.set_num_threads(1)
    try:
        config = PerceptionTrainConfig(seeds=tuple(args.seeds), shifted_seeds=tuple(args.shifted_seeds),
                                       sessions=args.sessions_dir, out=args.out,
                                       frame_step=args.frame_step,
                                       train=TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed))
    except ValueError as e:
        raise AmiError(str(e)) from e
    path = run_training(config, progress=not args.quiet)
    from worldmodel.instance_head import load_checkpoint

    ck = load_checkpoint(path)
    print(f"Wrote {path} and {path.with_suffix('.loss.png')}: threshold {ck.threshold:.3f} "
          f"({100 * config.fp_rate:g}% false positives on seeds {list(config.seeds)}), "
          f"final loss {ck.meta['final_loss']:.3f}, "
          f"{ck.meta['wall_s'] / 60:.1f} min of training")
    return 0


def register(tsub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add `perception` to the `ami train` subcommands."""
    sp = tsub.add_parser("perception", help="train the instance head that finds enrolled items; checkpoint + loss plot",
                         description="Supervised metric learning of per-cell instance embeddings on the frozen "
                                     "MobileNetV2 (stride 8 and 16), from the recorder's truth on development "
                                     "seeds. Features are cached in out/perception-cache/.")
    sp.add_argument("--out", type=Path, default=Path("out/perception"),
                    help="output folder (default: out/perception)")
    sp.add_argument("--seeds", type=int, nargs="+", default=list(range(10)),
                    help="development seeds to train on, 0-99 (default: 0-9)")
    sp.add_argument("--shifted-seeds", type=int, nargs="*", default=list(range(30, 40)),
                    help="development seeds also recorded with `--shift random` (other looks and carries) "
                         "to train on (default: 30-39)")
    sp.add_argument("--sessions-dir", type=Path, default=Path("out/train-sessions"),
                    help="where seed-N session folders are (recorded if missing; default: out/train-sessions)")
    sp.add_argument("--steps", type=int, default=800, help="optimizer steps (default: 800)")
    sp.add_argument("--batch", type=int, default=32, help="anchor/target pairs per step (default: 32)")
    sp.add_argument("--frame-step", type=int, default=2, help="use every N-th frame (default: 2)")
    sp.add_argument("--seed", type=int, default=0, help="sampling and initialisation seed (default: 0)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=_cmd_train_perception)
