"""`ami export`: lower the encoder to ExecuTorch programs, verify each by its sightings and by the
answers of whole replays against eager, and write those that pass (export/run.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from device.errors import AmiError


def _cmd_export(args: argparse.Namespace) -> int:
    import tempfile

    from device.app.answer_check import AnswerChecker
    from export.run import ExportConfig, check_seeds, export_encoder, record_seeds

    check_seeds(args.calib_seeds, [*args.verify_seeds, *args.answer_seeds])
    with tempfile.TemporaryDirectory(prefix="ami-export-sessions-") as tmp:
        calib = tuple(args.calib_sessions) or record_seeds(args.calib_seeds, Path(tmp))
        held_out = tuple(args.verify_sessions) or record_seeds(args.verify_seeds, Path(tmp))
        whole = [] if args.no_answer_check else (list(args.answer_sessions)
                                                 or list(record_seeds(args.answer_seeds, Path(tmp), short=False)))
        shared = {p.resolve() for p in calib} & {p.resolve() for p in whole}
        if shared:
            raise AmiError(f"{sorted(map(str, shared))} are calibration sessions and answer sessions: the answer "
                           "check must replay houses the calibration never saw")
        try:
            config = ExportConfig(calib_sessions=calib, verify_sessions=held_out, variants=tuple(args.variants),
                                  model=args.model, threads=args.threads,
                                  answers=AnswerChecker(whole) if whole else None)
        except ValueError as e:
            raise AmiError(str(e)) from e
        result = export_encoder(args.out, config)
    for variant, report in result.reports.items():
        verdict = (f"wrote {result.written[variant]}" if result.passed(variant)
                   else f"NOT written ({'; '.join(result.reasons(variant))})")
        answers = result.answers.get(variant)
        print(f"{variant}: {verdict}\n  {report.summary()}" + (f"\n  {answers.summary()}" if answers else ""))
    print(f"Wrote {result.manifest}")
    return 1 if result.rejected else 0


def register(sub: Any) -> None:
    sp = sub.add_parser("export", help="export the encoder to ExecuTorch .pte (fp32, int8), verified on real frames",
                        description="Lower the encoder to XNNPACK .pte programs (fp32, and PT2E int8 calibrated on "
                                    "real keyframes), verify each against eager on held-out sessions, and write "
                                    "those that pass with manifest.json. Exits 1 if a program was rejected.")
    sp.add_argument("--out", type=Path, required=True, help="folder for the .pte files and manifest.json")
    sp.add_argument("--calib-seeds", type=int, nargs="+", default=[10, 11, 12],
                    help="development seeds of short sessions to record for calibration (default: 10 11 12)")
    sp.add_argument("--verify-seeds", type=int, nargs="+", default=[20, 21],
                    help="held-out development seeds to record for verification (default: 20 21)")
    sp.add_argument("--calib-sessions", type=Path, nargs="+", default=[],
                    help="recorded session folders to calibrate on instead of --calib-seeds")
    sp.add_argument("--verify-sessions", type=Path, nargs="+", default=[],
                    help="recorded session folders to verify on instead of --verify-seeds")
    sp.add_argument("--answer-seeds", type=int, nargs="+", default=[13, 14, 15, 16],
                    help="development seeds of whole sessions to replay through eager and each program, comparing "
                         "the answers (default: 13 14 15 16)")
    sp.add_argument("--answer-sessions", type=Path, nargs="+", default=[],
                    help="recorded whole sessions (with truth/) for the answer check instead of --answer-seeds")
    sp.add_argument("--no-answer-check", action="store_true",
                    help="verify the sightings only, not the replayed answers (faster; for experiments)")
    sp.add_argument("--variants", nargs="+", choices=("fp32", "int8"), default=["fp32", "int8"],
                    help="programs to export (default: fp32 int8)")
    sp.add_argument("--model", choices=("instance", "frozen"), default="instance",
                    help="instance: the MobileNetV2 trunk plus the learned instance head "
                         "(worldmodel/artifacts/instance_head.pt; the shipped program); frozen: the stride-16 trunk "
                         "alone, the perception baseline (default: instance)")
    sp.add_argument("--threads", type=int, default=1, help="CPU threads for export and verification (default: 1)")
    sp.set_defaults(func=_cmd_export)
