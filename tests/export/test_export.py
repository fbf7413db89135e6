"""`ami export`: seeds and sessions are checked, verification on held-out real frames rejects a
program that does not see what eager sees, a rejected program is never written, and what is
written loads through the device runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device.perception.encoder import EncoderConfig, Encoding, FrozenEncoder, NoisyFrames, ReferenceEncoder
from device.perception.encoder_manifest import MANIFEST_FILE, read_manifest
from device.perception.encoder_pte import DEFAULT_MANIFEST, PteEncoder, sha256_bytes
from export.run import ExportConfig, ExportError, check_seeds, export_encoder
from export.verify import VerifyConfig, VerifyReport, verify_encoder


@pytest.fixture(scope="module")
def eager() -> ReferenceEncoder:
    """The eager network of the shipped programs: backbone + instance head."""
    from device.perception.instance_encoder import InstanceEncoder

    return InstanceEncoder(EncoderConfig(runtime="eager"))


class Mirrored:
    """A candidate that sees the frame mirrored: plausible features, wrong decisions."""

    def __init__(self, inner: ReferenceEncoder) -> None:
        self.inner, self.dim, self.config = inner, inner.dim, inner.config

    def encode(self, rgb: np.ndarray) -> Encoding:
        return self.inner.encode(np.ascontiguousarray(rgb[:, ::-1]))


@pytest.mark.parametrize("calib, verify, message", [
    ([10, 1003], [20], r"\[1003\] are held-out evaluation seeds"),
    ([10, 11], [11, 20], r"\[11\] are both calibration seeds and verification or answer seeds"),
])
def test_seeds_must_be_development_and_held_out(calib: list[int], verify: list[int], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        check_seeds(calib, verify)


def test_cli_refuses_answer_sessions_that_calibrate(tmp_path: Path, calib_clip: Path, verify_clip: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    from device.cli.main import main

    assert main(["export", "--out", str(tmp_path / "x"), "--calib-sessions", str(calib_clip), "--verify-sessions",
                 str(verify_clip), "--answer-sessions", str(calib_clip)]) == 2
    assert "are calibration sessions and answer sessions" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_refuses_evaluation_seeds_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from device.cli.main import main

    assert main(["export", "--out", str(tmp_path / "x"), "--verify-seeds", "1000"]) == 2
    assert "held-out evaluation seeds" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_configs_validate(calib_clip: Path) -> None:
    from export.quantize import QuantizeConfig

    with pytest.raises(ValueError, match="held-out sessions"):
        ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(calib_clip,))
    with pytest.raises(ValueError, match="ExportConfig.variants"):
        ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(Path("other"),), variants=("int4",))
    with pytest.raises(ValueError, match="QuantizeConfig.calibration_frames must be >= 32"):
        QuantizeConfig(calibration_frames=8)
    with pytest.raises(ValueError, match="VerifyConfig.min_sighting_agreement"):
        VerifyConfig(min_sighting_agreement=1.5)


def test_calibration_needs_32_real_frames(calib_clip: Path) -> None:
    from export.frames import load_keyframes
    from export.quantize import quantize_int8
    from worldmodel.backbone import Stride16Features, load_mobilenet_v2

    few = load_keyframes([calib_clip], 224, max_frames=5)
    assert len(few.inputs) == 5 and few.sources[0] == ("calib", 0)
    with pytest.raises(ValueError, match="needs >= 32 real frames, got 5"):
        quantize_int8(Stride16Features(load_mobilenet_v2()), few)


def test_verification_passes_the_shipped_program_and_rejects_a_wrong_one(verify_clip: Path,
                                                                         eager: ReferenceEncoder) -> None:
    good = verify_encoder(PteEncoder(EncoderConfig(variant="fp32")), eager, [verify_clip])
    assert good.passed and good.reasons == ()
    assert good.frames >= 32 and good.cosine_mean > 0.9999 and good.frame_agreement == 1.0
    assert good.sighting_pairs > 0, "the clip has enrollments, so sightings are compared"
    assert good.sighting_agreement == 1.0
    bad = verify_encoder(Mirrored(eager), eager, [verify_clip])
    assert not bad.passed and bad.sighting_agreement < 0.99
    assert any("sightings agree" in r for r in bad.reasons)


def test_eager_under_its_own_noise_passes_where_a_bare_99_percent_would_not(verify_clip: Path,
                                                                             eager: ReferenceEncoder) -> None:
    """The gate is 99% of sightings or eager's own agreement under +-1 grey level, whichever is lower:
    eager given that noise flips sightings near their thresholds, and passes."""
    noisy = verify_encoder(NoisyFrames(eager), eager, [verify_clip])
    assert noisy.sighting_agreement == noisy.floor_sighting_agreement < 0.99
    assert noisy.passed, noisy.reasons
    assert noisy.floor_enroll_agreement < 1.0, "one grey level already moves eager's own enrollment cells"


def _fake_report(passed: bool) -> VerifyReport:
    return VerifyReport(frames=40, sessions=("verify",), cosine_mean=1.0, cosine_p01=0.9,
                        cosine_min=0.9, enroll_agreement=1.0, sighting_agreement=1.0 if passed else 0.9,
                        sighting_pairs=1, sightings_reference=1, search_agreement=1.0, frame_agreement=1.0,
                        floor_cosine_mean=0.99, floor_enroll_agreement=0.5, floor_sighting_agreement=0.95,
                        floor_search_agreement=0.9, passed=passed,
                        reasons=() if passed else ("sightings agree on 90.0% of (frame, item) pairs",))


@pytest.fixture
def shipped_programs(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Skip the slow lowering: export_encoder stages the shipped fp32 program under both names."""
    import export.run

    data = (DEFAULT_MANIFEST.parent / read_manifest(DEFAULT_MANIFEST).programs["fp32"].file).read_bytes()
    monkeypatch.setattr(export.run, "lower_all", lambda config, dirs, reference: (
        {"fp32": data, "int8": data}, {"sessions": ["calib"], "frames": 32}))
    return data


def test_a_rejected_program_is_not_written(tmp_path: Path, calib_clip: Path, verify_clip: Path,
                                           shipped_programs: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import export.run

    monkeypatch.setattr(export.run, "verify_encoder",
                        lambda cand, ref, dirs, config: _fake_report(cand.variant == "fp32"))
    out = tmp_path / "out"
    result = export_encoder(out, ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(verify_clip,)))
    assert set(result.written) == {"fp32"} and set(result.rejected) == {"int8"}
    assert sorted(p.name for p in out.iterdir()) == ["encoder-fp32.pte", MANIFEST_FILE], "no staging left behind"
    manifest = read_manifest(out / MANIFEST_FILE)
    assert set(manifest.programs) == {"fp32"}
    assert manifest.programs["fp32"].sha256 == sha256_bytes(shipped_programs)
    assert manifest.programs["fp32"].verification["cosine_mean"] == 1.0
    assert manifest.default == "fp32", "the default names a program that was written"
    assert manifest.calibration["frames"] == 32
    assert PteEncoder(EncoderConfig(manifest=out / MANIFEST_FILE)).variant == "fp32"


def test_nothing_is_written_when_every_program_fails(tmp_path: Path, calib_clip: Path, verify_clip: Path,
                                                     shipped_programs: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    import export.run

    monkeypatch.setattr(export.run, "verify_encoder", lambda cand, ref, dirs, config: _fake_report(False))
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="nothing was written .*sightings agree on 90.0%"):
        export_encoder(out, ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(verify_clip,)))
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_export_end_to_end(tmp_path: Path, calib_clip: Path, verify_clip: Path) -> None:
    """The real thing on demo clips: lower fp32 and int8 (its first block in fp32, as the search would
    keep it: tests/export/test_quantize.py tests the search), verify, write what passed (about a minute)."""
    from export.quantize import QuantizeConfig

    out = tmp_path / "out"
    result = export_encoder(out, ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(verify_clip,),
                                              quantize=QuantizeConfig(keep_fp32=("features.low.0",))))
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert set(manifest["programs"]) == set(result.written) and "fp32" in result.written
    for variant, report in result.reports.items():
        pte = out / f"encoder-{variant}.pte"
        assert pte.exists() == report.passed, report.reasons
        if report.passed:
            assert manifest["programs"][variant]["sha256"] == sha256_bytes(pte.read_bytes())
            assert PteEncoder(EncoderConfig(variant=variant, manifest=out / MANIFEST_FILE)).dim == 64
    assert manifest["calibration"]["frames"] >= 32 and manifest["calibration"]["int8_fp32_blocks"] == ["features.low.0"]


@pytest.mark.slow
def test_export_of_the_frozen_trunk_names_its_space(tmp_path: Path, calib_clip: Path, verify_clip: Path) -> None:
    """`--model frozen`: the trunk alone lowered, verified against the eager frozen encoder, and the
    device reads it in the frozen encoder's embedding space, not the shipped one (about 30 s)."""
    from device.perception.encoder import make_encoder
    from device.perception.instance_encoder import InstanceEncoder

    out = tmp_path / "out"
    result = export_encoder(out, ExportConfig(calib_sessions=(calib_clip,), verify_sessions=(verify_clip,),
                                              variants=("fp32",), model="frozen"))
    assert result.reports["fp32"].cosine_mean > 0.9999, result.reports["fp32"].summary()
    pte = make_encoder(EncoderConfig(variant="fp32", manifest=out / MANIFEST_FILE))
    assert isinstance(pte, PteEncoder) and pte.dim == 96
    assert pte.space == FrozenEncoder().space != InstanceEncoder().space


def test_cli_says_which_program_was_not_written_and_why(tmp_path: Path, calib_clip: Path, verify_clip: Path,
                                                        shipped_programs: bytes, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    import export.run
    from device.cli.main import main

    monkeypatch.setattr(export.run, "verify_encoder",
                        lambda cand, ref, dirs, config: _fake_report(cand.variant == "fp32"))
    out = tmp_path / "out"
    code = main(["export", "--out", str(out), "--calib-sessions", str(calib_clip),
                 "--verify-sessions", str(verify_clip), "--no-answer-check"])
    printed = capsys.readouterr().out
    assert code == 1, "a rejected program is a non-zero exit"
    assert f"fp32: wrote {out / 'encoder-fp32.pte'}" in printed
    assert "int8: NOT written (sightings agree on 90.0% of (frame, item) pairs)" in printed
    assert f"Wrote {out / MANIFEST_FILE}" in printed


def test_a_program_whose_answers_move_is_not_written(tmp_path: Path, calib_clip: Path, verify_clip: Path,
                                                     shipped_programs: bytes, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    """Both programs see what eager sees frame by frame, but the int8 one's replayed answers move
    more than eager's own under noise: it is not written, and fp32 becomes the manifest's default."""
    import device.app.answer_check
    import export.run
    from device.app.answer_check import Answers, compare_answers
    from device.cli.main import main

    monkeypatch.setattr(export.run, "verify_encoder", lambda cand, ref, dirs, config: _fake_report(True))
    eager_answers = Answers(rooms=(1, 2, 3, 4), true_rooms=(1, 2, 3, 4), alerted=(True, False), alerts=1)
    moved = Answers(rooms=(1, 2, 0, 0), true_rooms=(1, 2, 3, 4), alerted=(True, False), alerts=1)
    checked: list[list[Path]] = []

    def fake_check(sessions: list[Path], cand: PteEncoder, ref: ReferenceEncoder) -> object:
        checked.append(sessions)
        return compare_answers(eager_answers, eager_answers, moved if cand.variant == "int8" else eager_answers)

    monkeypatch.setattr(device.app.answer_check, "AnswerChecker",
                        lambda sessions: lambda cand, ref: fake_check(sessions, cand, ref))
    out = tmp_path / "out"
    code = main(["export", "--out", str(out), "--calib-sessions", str(calib_clip),
                 "--verify-sessions", str(verify_clip), "--answer-sessions", str(verify_clip)])
    printed = capsys.readouterr().out
    assert code == 1 and checked == [[verify_clip], [verify_clip]]
    assert "int8: NOT written (50.0% of answers in eager's room, below 98%" in printed
    assert read_manifest(out / MANIFEST_FILE).default == "fp32"
    assert not (out / "encoder-int8.pte").exists()


def test_eagers_answers_are_replayed_once_for_every_program(monkeypatch: pytest.MonkeyPatch) -> None:
    import device.app.answer_check
    from device.app.answer_check import AnswerChecker, Answers

    replayed: list[object] = []
    answers = Answers(rooms=(1,), true_rooms=(1,), alerted=(), alerts=0)
    monkeypatch.setattr(device.app.answer_check, "answers_of",
                        lambda dirs, encoder, config: replayed.append(encoder) or answers)
    from types import SimpleNamespace

    check, eager = AnswerChecker([Path("s")]), SimpleNamespace(dim=1, config=None, space="eager")
    assert check("fp32", eager).passed and check("int8", eager).passed  # type: ignore[arg-type]
    assert replayed[0] is eager and replayed[2:] == ["fp32", "int8"], "eager and its noise once, then each program"
    assert len(replayed) == 4


def test_the_answer_check_holds_a_program_to_eager_or_to_eagers_own_noise() -> None:
    from device.app.answer_check import Answers, compare_answers

    truth = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    eager = Answers(rooms=truth, true_rooms=truth, alerted=(True, True, False), alerts=2)
    one_moved = Answers(rooms=(0, *truth[1:]), true_rooms=truth, alerted=(True, True, False), alerts=2)
    two_moved = Answers(rooms=(0, 0, *truth[2:]), true_rooms=truth, alerted=(True, True, False), alerts=2)
    better = Answers(rooms=truth, true_rooms=truth, alerted=(True, True, True), alerts=3)
    assert not compare_answers(eager, eager, one_moved).passed, "90% same room, eager's own noise moved none"
    assert compare_answers(eager, one_moved, one_moved).passed, "as close as eager is to itself under noise"
    verdict = compare_answers(eager, one_moved, two_moved)
    assert not verdict.passed and any("room accuracy" in r for r in verdict.reasons)
    assert not compare_answers(eager, eager, better).passed, "another event alerted is not the same alerts"
    assert compare_answers(eager, better, better).passed, "unless eager's own noise alerted it too"
