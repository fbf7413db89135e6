"""`ami`: the one command line. Each subcommand parses flags, builds a config, calls one library
function, and turns domain errors into a one-line message and a non-zero exit."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from device.perception.encoder import RUNTIMES, VARIANTS
from device.errors import AmiError
from memory.errors import MemoryStoreError

if TYPE_CHECKING:  # heavy modules are imported inside the commands that need them
    from device.app.replay import ReplayConfig
    from device.app.spoken import Exchange, SpeechConfig

log = logging.getLogger("ami")


def _cmd_record_sim(args: argparse.Namespace) -> int:
    from device.sim.record import RecordConfig, record_session

    try:
        config = RecordConfig(seed=args.seed, width=args.size, height=args.size, fps=args.fps, short=args.short,
                              start_time=args.start_time, shift=tuple(args.shift))
    except ValueError as e:
        raise AmiError(str(e)) from e
    out = record_session(args.out, config, progress=not args.quiet)
    print(f"Recorded {out}")
    return 0


def _replay_config(args: argparse.Namespace) -> ReplayConfig:
    from device.answering.assistant import AssistantConfig
    from device.perception.encoder import EncoderConfig
    from device.app.replay import ReplayConfig

    encoder = EncoderConfig(threads=args.threads, runtime=args.encoder, manifest=args.encoder_manifest,
                            variant=args.precision)
    return ReplayConfig(assistant=AssistantConfig(answerer=args.answerer), encoder=encoder, progress=not args.quiet)


def _cmd_replay(args: argparse.Namespace) -> int:
    from device.app.replay import replay
    from device.session import read_session

    session = read_session(args.session)
    config = _replay_config(args)
    if args.speech:
        import dataclasses

        config = dataclasses.replace(config, speech=_speech_config(args))
    result = replay(session, args.out, memory_dir=args.memory, config=config, replace=args.replace)
    if args.print:
        from device.app.demo import transcript

        print("\n".join(transcript(session, result.responses)))
    print(f"Wrote {len(result.responses)} responses to {args.out} "
          f"({result.frames} frames, {result.keyframes} keyframes, {result.frames_per_s:.1f} frames/s)")
    return 0


def _speech_config(args: argparse.Namespace) -> SpeechConfig:  # noqa: F821 (lazy import)
    from device.speech.asr import AsrConfig
    from device.speech.intents import IntentConfig
    from device.app.spoken import SpeechConfig

    threads = getattr(args, "threads", 1)
    try:
        return SpeechConfig(asr=AsrConfig(model=args.asr_model, threads=threads), intents=IntentConfig(threads=threads))
    except ValueError as e:  # a bad --asr-model or --threads
        raise AmiError(str(e)) from e


def _print_exchange(ex: Exchange, as_json: bool = False) -> None:  # noqa: F821 (lazy import)
    if as_json:  # one JSON object per exchange (a line each), for scripts
        intent = None if ex.intent is None else {"kind": ex.intent.kind, "item": ex.intent.item,
                                                 "confidence": ex.intent.confidence, "source": ex.intent.source}
        print(json.dumps({"heard": ex.heard.kind, "transcript": ex.heard.text, "intent": intent,
                          "response": None if ex.response is None else ex.response.to_json(),
                          "latency_s": ex.latency_s}), flush=True)
        return
    if ex.heard.kind == "silence":
        print("(no speech heard)")
        return
    print(f"heard:  {ex.heard.text or '(unclear)'!s}")
    if ex.intent is not None:
        print(f"intent: {ex.intent.kind} item={ex.intent.item} confidence={ex.intent.confidence:.2f}")
    if ex.response is not None:
        print(f"answer: {ex.response.text}")
    sys.stdout.flush()


def _memory(args: argparse.Namespace) -> Path:
    """--memory, else the wearer's default memory folder."""
    from core.paths import default_memory

    return args.memory if args.memory is not None else default_memory()


def _cmd_ask(args: argparse.Namespace) -> int:
    from device.speech.asr import load_wav
    from device.app.spoken import SpokenAssistant
    from device.speech.tts import Speaker, SpeakerConfig

    samples = load_wav(args.audio)
    speaker = Speaker(SpeakerConfig(enabled=not args.no_speak))
    with SpokenAssistant(_memory(args), _speech_config(args), speaker, create=args.memory is None) as spoken:
        _print_exchange(spoken.handle(samples, spoken.clock0), as_json=args.json)
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    from device.speech.microphone import MicrophoneConfig
    from device.app.spoken import SpokenAssistant, listen
    from device.speech.tts import Speaker, SpeakerConfig

    device = int(args.device) if args.device is not None and args.device.isdigit() else args.device
    mic = MicrophoneConfig(device=device)
    from device.speech.microphone import SoundDeviceMicrophone

    SoundDeviceMicrophone(mic)  # no microphone: say so now, before seconds of loading models
    speaker = Speaker(SpeakerConfig(enabled=not args.no_speak))
    with SpokenAssistant(_memory(args), _speech_config(args), speaker, warm=True, create=args.memory is None) \
            as spoken, \
            contextlib.closing(listen(spoken, mic, max_s=args.seconds)) as exchanges:  # Ctrl-C: the mic closes
        print("Listening; ask \"where are my keys?\" (Ctrl-C to stop)")
        sys.stdout.flush()
        for ex in exchanges:
            _print_exchange(ex)
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from device.app.explain import ExplainConfig, draw, explain, format_table
    from device.session import read_session

    session = read_session(args.session)
    ex = explain(session, args.t, args.item, memory_dir=args.memory, config=ExplainConfig(replay=_replay_config(args)))
    print(format_table(ex))
    if args.out is not None:
        print(f"\nWrote {draw(ex, session, args.out)}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from device.evaluation.evaluate import evaluate, format_table, write_metrics
    from device.responses import check_same_session, read_responses
    from device.session import read_session

    session = read_session(args.session)
    responses = read_responses(args.responses)
    check_same_session(responses, session.content_id, args.responses)
    metrics = evaluate(session, responses)
    out = args.metrics or args.responses.with_suffix(".metrics.json")
    write_metrics(out, metrics)
    print(format_table(metrics))
    print(f"\nWrote {out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from device.app.demo import run_demo

    run_demo(args.out, config=_replay_config(args))
    return 0


def _cmd_companion_serve(args: argparse.Namespace) -> int:
    from companion_app.errors import CompanionServerError
    from companion_app.planner import PlannerConfig
    from companion_app.server import ServeConfig, serve

    try:
        config = ServeConfig(host=args.host, port=args.port, allow_remote=args.allow_remote, checkpoint=args.checkpoint,
                             state_dir=args.state.expanduser(), device=args.device, threads=args.threads,
                             planner=PlannerConfig(budget_s=args.plan_budget))
    except ValueError as e:
        raise AmiError(str(e)) from e
    try:
        serve(config, announce=lambda line: print(line, flush=True))
    except CompanionServerError as e:
        raise AmiError(str(e)) from e
    return 0


PLAN_BUDGET_S = 1.0  # companion_app.planner.PlannerConfig.budget_s (imported there only when serving)


def _register_companion_serve(csub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = csub.add_parser("serve", help="run the companion: plans routes for paired glasses over HTTP",
                         description="Serve the planning API (CEM and gradient planners through the JEPA "
                                     "predictor, on the GPU when torch sees one) and print a one-time pairing code. "
                                     "Loopback only unless --allow-remote. See docs/companion.md.")
    sp.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sp.add_argument("--port", type=int, default=8765, help="TCP port (default: 8765)")
    sp.add_argument("--allow-remote", action="store_true",
                    help="allow a --host that is not loopback (the API is then reachable from the network)")
    sp.add_argument("--checkpoint", type=Path, default=None,
                    help="JEPA predictor checkpoint (default: the shipped worldmodel/artifacts/jepa-v1.pt)")
    sp.add_argument("--state", type=Path, default=Path("~/.ami/companion"),
                    help="folder for the paired devices, owner-only (default: ~/.ami/companion)")
    sp.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    sp.add_argument("--threads", type=int, default=1, help="torch CPU threads for planning (default: 1)")
    sp.add_argument("--plan-budget", type=float, default=PLAN_BUDGET_S, metavar="S",
                    help="seconds a plan may search before it answers with the best found, so that no device "
                         f"holds the planner for long (default: {PLAN_BUDGET_S:g})")
    sp.set_defaults(func=_cmd_companion_serve)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ami", description="ami-glasses: an offline memory assistant for smart glasses.")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--threads", type=int, default=1, help="torch threads for the encoder (default: 1)")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")
        sp.add_argument("--encoder", choices=RUNTIMES, default="pte",
                        help="pte: the exported ExecuTorch program (on-device path); eager: the same network "
                             "(backbone + learned instance head) in PyTorch; frozen: the ImageNet trunk without the "
                             "head, the perception baseline (default: pte)")
        sp.add_argument("--encoder-manifest", type=Path, default=None,
                        help="manifest.json written by `ami export` (default: export/artifacts/manifest.json)")
        sp.add_argument("--precision", choices=("auto", *VARIANTS), default="auto",
                        help="which program of the manifest the pte encoder runs (default: auto, the manifest's "
                             "default: int8 when it passed `ami export`'s verification)")
        sp.add_argument("--answerer", choices=("world-model", "baseline"), default="world-model",
                        help="world-model: the energy-minimizing belief; baseline: the last confident "
                             "sighting, for comparison (default: world-model)")

    sp = sub.add_parser("demo", help="replay the bundled demo session, print answers, write a contact sheet",
                        description="Replay demo/session, print each question, answer and evidence, score "
                                    "it, and write responses.jsonl, metrics.json and contact_sheet.png.")
    sp.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    common(sp)
    sp.set_defaults(func=_cmd_demo)

    sp = sub.add_parser("record-sim", help="record a session in a MiniWorld house, headless",
                        description="Record an egocentric session (format ami-session/1) with a scripted "
                                    "wearer in a MiniWorld house, with speech and truth/.")
    sp.add_argument("--out", type=Path, required=True, help="session folder to create (must not exist)")
    sp.add_argument("--seed", type=int, default=0, help="house, items and script seed (default: 0)")
    sp.add_argument("--size", type=int, default=128, help="frame width and height in pixels (default: 128)")
    sp.add_argument("--fps", type=float, default=10.0, help="frames per second (default: 10)")
    sp.add_argument("--short", action="store_true", help="a quick 3-room session of under a minute")
    sp.add_argument("--start-time", default=None,
                    help="wall clock at the session's start, ISO 8601 with offset (default: now)")
    sp.add_argument("--shift", action="append", default=[], metavar="AXIS[=LEVEL]",
                    help="a domain shift, repeatable: looks, carry=ahead|low|hidden, camera[=VFOV@EYE], or random "
                         "(all axes drawn from the seed); see device/sim/shift.py (default: none)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=_cmd_record_sim)

    sp = sub.add_parser("replay", help="replay a session through the assistant, write responses.jsonl",
                        description="Replay SESSION causally and write one response per line to --out.")
    sp.add_argument("session", type=Path, help="session folder (format ami-session/1)")
    sp.add_argument("--out", type=Path, required=True, help="responses.jsonl to write (atomically)")
    sp.add_argument("--memory", type=Path, default=None,
                    help="memory folder: created if new, continued if it exists (default: a temporary one)")
    sp.add_argument("--print", action="store_true",
                    help="print what the wearer said and the glasses answered, as `ami demo` does")
    sp.add_argument("--replace", action="store_true",
                    help="replay a session the memory already holds: erase what its earlier replay stored first "
                         "(without it, such a session is refused)")
    sp.add_argument("--speech", action="store_true",
                    help="hear the utterances in audio.wav through Whisper instead of reading their texts")
    sp.add_argument("--asr-model", default="tiny.en",
                    help="Whisper model for --speech: tiny.en, base, or a CTranslate2 folder (default: tiny.en)")
    common(sp)
    sp.set_defaults(func=_cmd_replay)

    def speech_flags(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--memory", type=Path, default=None,
                        help="memory folder written by `ami replay --memory` (default: the wearer's memory, "
                             "$AMI_MEMORY or the user data folder; started empty the first time)")
        sp.add_argument("--no-speak", action="store_true", help="print answers only; do not speak them")
        sp.add_argument("--asr-model", default="tiny.en",
                        help="Whisper model: tiny.en, base, or a CTranslate2 folder (default: tiny.en)")
        sp.add_argument("--threads", type=int, default=1, help="CPU threads for Whisper and intents (default: 1)")

    sp = sub.add_parser("ask", help="ask one spoken question from a wav file",
                        description="Transcribe FILE.wav (any rate; resampled to 16 kHz mono), print the "
                                    "transcript, the intent and the answer from the memory, and speak it.")
    sp.add_argument("--audio", type=Path, required=True, help="the question as a wav file")
    sp.add_argument("--json", action="store_true",
                    help="print one JSON object (transcript, intent, response, latency) instead of text")
    speech_flags(sp)
    sp.set_defaults(func=_cmd_ask)

    sp = sub.add_parser("listen", help="the live loop: microphone -> Whisper -> answer, spoken",
                        description="Listen on a microphone, cut utterances by voice activity, and answer "
                                    "each question from the memory (printed, logged and spoken).")
    sp.add_argument("--device", default=None,
                    help="input device: a name (or part of one) or an index (default: the system default)")
    sp.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    speech_flags(sp)
    sp.set_defaults(func=_cmd_listen)

    sp = sub.add_parser("explain", help="show the world model's competing hypotheses for an item at a time",
                        description="Replay SESSION causally up to --t, ask where --item is, and print the "
                                    "competing hypotheses (each place near its sightings, and carried) with "
                                    "their energies and the answer's confidence; --out draws them on a top-down "
                                    "map beside the evidence keyframe.")
    sp.add_argument("session", type=Path, help="session folder (format ami-session/1)")
    sp.add_argument("--t", type=float, required=True, help="the moment to explain, seconds on the session clock")
    sp.add_argument("--item", required=True, help="the item to explain, as enrolled (e.g. keys)")
    sp.add_argument("--memory", type=Path, default=None,
                    help="memory folder: created if new, continued if it exists (default: a temporary one)")
    sp.add_argument("--out", type=Path, default=None, help="PNG to write: the map and the evidence keyframe")
    common(sp)
    sp.set_defaults(func=_cmd_explain)

    sp = sub.add_parser("eval", help="score responses.jsonl against the session's truth/",
                        description="Print a metrics table and write the metrics as JSON.")
    sp.add_argument("session", type=Path, help="session folder with truth/")
    sp.add_argument("responses", type=Path, help="responses.jsonl written by `ami replay`")
    sp.add_argument("--metrics", type=Path, default=None,
                    help="JSON metrics to write (default: RESPONSES with .metrics.json)")
    sp.set_defaults(func=_cmd_eval)

    from device.cli import bench, companion, train, view
    from device.cli import export as export_command
    from device.cli import memory as memory_commands

    export_command.register(sub)
    memory_commands.register(sub)
    train.register(sub)
    bench.register(sub)
    view.register(sub)
    _register_companion_serve(companion.register(sub))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-v", "--verbose") for a in argv):  # -v anywhere: before or after the subcommand
        argv = ["-v", *(a for a in argv if a not in ("-v", "--verbose"))]
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # chatter from torch's exporter stack and torchao (CUDA kernels a CPU lacks)
        for noisy in ("torch.utils._pytree", "torchao"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        return args.func(args)
    except (AmiError, MemoryStoreError) as e:
        print(f"ami {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ami {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
