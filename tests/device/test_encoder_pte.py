"""The on-device encoder: every shipped `.pte` loads and runs, matches eager on real frames, and
each kind of bad input is a clear ModelError (never a silent change of answers)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from device.perception.encoder import EncoderConfig, make_encoder, to_input
from device.perception.encoder_manifest import read_manifest
from device.perception.encoder_pte import DEFAULT_MANIFEST, PteEncoder, RuntimeMissingError
from device.errors import ModelError
from device.perception.instance_encoder import InstanceEncoder
from device.session import read_session

DEMO = Path(__file__).resolve().parents[2] / "demo" / "session"
VARIANTS = sorted(read_manifest(DEFAULT_MANIFEST).programs)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Eight real frames spread over the demo session."""
    s = read_session(DEMO)
    return [s.load_frame(i) for i in np.linspace(0, len(s.frames) - 1, 8).astype(int)]


@pytest.fixture(scope="module")
def eager() -> InstanceEncoder:
    """The eager network the shipped programs were exported from: backbone + instance head."""
    return InstanceEncoder(EncoderConfig(runtime="eager"))


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """A private copy of the shipped programs and manifest, to damage."""
    dst = tmp_path / "artifacts"
    shutil.copytree(DEFAULT_MANIFEST.parent, dst, ignore=shutil.ignore_patterns(".*"))
    return dst


def _edit_manifest(folder: Path, **changes: object) -> Path:
    path = folder / "manifest.json"
    obj = json.loads(path.read_text())
    obj.update(changes)
    path.write_text(json.dumps(obj))
    return path


def _pte(folder: Path, variant: str = "fp32") -> Path:
    return folder / json.loads((folder / "manifest.json").read_text())["programs"][variant]["file"]


def test_committed_manifest_matches_the_installed_weights_and_runtime() -> None:
    import importlib.metadata

    from worldmodel.backbone import mobilenet_v2_weights_path, sha256_file

    m = read_manifest(DEFAULT_MANIFEST)
    assert m.source_weights["sha256"] == sha256_file(mobilenet_v2_weights_path()), \
        "the shipped .pte was exported from other weights: run `ami export --out export/artifacts`"
    assert m.versions["executorch"] == importlib.metadata.version("executorch")
    assert "fp32" in m.programs and m.dim == 64 and m.grid == (14, 14)
    assert m.model == InstanceEncoder().model, \
        "the shipped .pte is not the shipped instance head: run `ami export --out export/artifacts`"


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_shipped_program_loads_runs_and_matches_eager(variant: str, frames: list[np.ndarray],
                                                            eager: InstanceEncoder) -> None:
    enc = PteEncoder(EncoderConfig(variant=variant))
    assert enc.dim == 64 and enc.variant == variant
    for rgb in frames:
        got, ref = enc.encode(rgb), eager.encode(rgb)
        assert got.patches.shape == (196, 64) and got.grid == (14, 14) and got.embedding.shape == (64,)
        assert np.allclose(np.linalg.norm(got.patches, axis=1), 1.0, atol=1e-4)
        cosine = float((got.patches * ref.patches).sum(axis=1).mean())
        floor = read_manifest(DEFAULT_MANIFEST).programs[variant].verification["cosine_p01"] - 0.02
        assert cosine >= floor, f"{variant}: cosine {cosine:.4f} on a demo frame"
    if variant == "fp32":
        assert cosine > 0.9999


def test_the_thread_count_does_not_change_a_single_bit(frames: list[np.ndarray]) -> None:
    """`--threads 2` once changed answers: torch's bilinear resize rounds differently over two threads,
    and the last bit flipped near-threshold sightings. The resize now runs on one thread always."""
    import torch

    threads = torch.get_num_threads()
    try:  # torch's and the runtime's thread counts are global, set when a program loads: one at a time
        enc = PteEncoder(EncoderConfig(threads=1))
        one = [enc.encode(rgb).patches for rgb in frames]
        enc = PteEncoder(EncoderConfig(threads=2))
        two = [enc.encode(rgb).patches for rgb in frames]
    finally:
        PteEncoder(EncoderConfig(threads=1))
        torch.set_num_threads(threads)
    assert all(np.array_equal(a, b) for a, b in zip(one, two))


def test_auto_variant_is_the_manifests_default() -> None:
    enc, m = PteEncoder(EncoderConfig(variant="auto")), read_manifest(DEFAULT_MANIFEST)
    assert enc.variant == (m.default or ("int8" if "int8" in VARIANTS else "fp32"))


def test_a_default_program_the_manifest_lacks_is_named(artifacts: Path) -> None:
    with pytest.raises(ModelError, match=r"default 'int4' is not one of its programs"):
        PteEncoder(EncoderConfig(manifest=_edit_manifest(artifacts, default="int4")))


def test_precision_on_the_command_line_picks_the_program(tmp_path: Path) -> None:
    from device.cli.main import _replay_config, build_parser

    args = build_parser().parse_args(["replay", str(DEMO), "--out", str(tmp_path / "r.jsonl"), "--precision", "fp32"])
    assert _replay_config(args).encoder.variant == "fp32"
    plain = build_parser().parse_args(["replay", str(DEMO), "--out", str(tmp_path / "r.jsonl")])
    assert _replay_config(plain).encoder.variant == "auto"


@pytest.mark.parametrize("rgb", [np.zeros((64, 64, 4), np.uint8), np.zeros((64, 64, 3), np.float32),
                                 np.zeros((64, 64), np.uint8), [[0, 0, 0]]], ids=["rgba", "float", "grey", "list"])
def test_bad_frames_are_model_errors(rgb: np.ndarray) -> None:
    enc = PteEncoder(EncoderConfig(variant="fp32"))
    with pytest.raises(ModelError, match=r"\(H, W, 3\) uint8"):
        enc.encode(rgb)


def test_bad_tensors_are_model_errors(frames: list[np.ndarray]) -> None:
    import torch

    enc = PteEncoder(EncoderConfig(variant="fp32"))
    wrong = (torch.zeros(1, 3, 128, 128), torch.zeros(1, 3, 224, 224, dtype=torch.float64), np.zeros((1, 3, 224, 224)))
    for x in wrong:
        with pytest.raises(ModelError, match=r"float32 tensor of shape \(1, 3, 224, 224\)"):
            enc.features(x)
    assert enc.features(to_input(frames[0], 224)).shape == (64, 14, 14)


def test_truncated_program(artifacts: Path) -> None:
    pte = _pte(artifacts)
    pte.write_bytes(pte.read_bytes()[: pte.stat().st_size // 2])
    with pytest.raises(ModelError, match="truncated"):
        PteEncoder(EncoderConfig(variant="fp32", manifest=artifacts / "manifest.json"))


def test_corrupt_program(artifacts: Path) -> None:
    pte = _pte(artifacts)
    data = bytearray(pte.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pte.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 .* does not match"):
        PteEncoder(EncoderConfig(variant="fp32", manifest=artifacts / "manifest.json"))


def test_program_from_another_executorch_version(artifacts: Path) -> None:
    from device.perception.encoder_pte import sha256_bytes

    versions = json.loads((artifacts / "manifest.json").read_text())["versions"]
    _edit_manifest(artifacts, versions={**versions, "executorch": "1.4.0"})
    with pytest.raises(ModelError, match="written by executorch 1.4.0"):
        PteEncoder(EncoderConfig(variant="fp32", manifest=artifacts / "manifest.json"))
    # A program whose header says another format version, even with a manifest that vouches for it.
    _edit_manifest(artifacts, versions=versions)
    pte = _pte(artifacts)
    data = bytearray(pte.read_bytes())
    assert data[4:8] == b"ET12", data[:8]
    data[4:8] = b"ET99"
    pte.write_bytes(bytes(data))
    obj = json.loads((artifacts / "manifest.json").read_text())
    obj["programs"]["fp32"]["sha256"] = sha256_bytes(bytes(data))
    (artifacts / "manifest.json").write_text(json.dumps(obj))
    with pytest.raises(ModelError, match="another ExecuTorch version"):
        PteEncoder(EncoderConfig(variant="fp32", manifest=artifacts / "manifest.json"))


@pytest.mark.parametrize("changes, message", [
    ({"output_shape": [1, 96, 14, 14]}, r"returns \(1, 64, 14, 14\), the manifest says \(1, 96, 14, 14\)"),
    ({"format": "ami-encoder/99"}, "format 'ami-encoder/99' is not 'ami-encoder/1'"),
    ({"programs": {}}, "lists no programs"),
    ({"input_shape": [1, 3, 224]}, r"input_shape must be \(1, 3, px, px\)"),
], ids=["dims", "format", "no-programs", "input-shape"])
def test_manifest_that_does_not_match_the_program(artifacts: Path, changes: dict, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        PteEncoder(EncoderConfig(variant="fp32", manifest=_edit_manifest(artifacts, **changes)))


def test_missing_or_unreadable_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no encoder manifest here"):
        PteEncoder(EncoderConfig(manifest=tmp_path / "manifest.json"))
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        PteEncoder(EncoderConfig(manifest=tmp_path / "manifest.json"))


def test_config_that_does_not_match_the_manifest(artifacts: Path) -> None:
    with pytest.raises(ModelError, match="takes 224 px frames"):
        PteEncoder(EncoderConfig(input_px=128, variant="fp32", manifest=artifacts / "manifest.json"))
    obj = json.loads((artifacts / "manifest.json").read_text())
    obj["programs"].pop("int8", None)
    obj["default"] = "fp32"
    (artifacts / "manifest.json").write_text(json.dumps(obj))
    with pytest.raises(ModelError, match="has no 'int8' program"):
        PteEncoder(EncoderConfig(variant="int8", manifest=artifacts / "manifest.json"))


def test_fallback_to_eager_only_without_the_runtime_and_with_a_logged_reason(
        artifacts: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import device.perception.encoder_pte as pte_module

    def missing() -> str:
        raise RuntimeMissingError("the ExecuTorch runtime is not installed (simulated)")

    monkeypatch.setattr(pte_module, "installed_executorch", missing)
    config = EncoderConfig(manifest=artifacts / "manifest.json")
    with caplog.at_level(logging.WARNING, logger="device.perception.encoder"):
        assert isinstance(make_encoder(config), InstanceEncoder)
    assert "falling back to eager PyTorch: the ExecuTorch runtime is not installed" in caplog.text
    with pytest.raises(RuntimeMissingError):
        make_encoder(EncoderConfig(manifest=artifacts / "manifest.json", fallback=False))
    _edit_manifest(artifacts, source_weights={"file": "other.pth", "sha256": "0" * 64})
    with pytest.raises(ModelError, match="not the ones the .pte was exported from"):
        make_encoder(config)


def test_bad_files_never_fall_back(artifacts: Path) -> None:
    _pte(artifacts).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="truncated"):
        make_encoder(EncoderConfig(variant="fp32", manifest=artifacts / "manifest.json"))


def test_memory_of_another_embedding_space_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from device.cli.main import main
    from memory.store import MemoryStore
    from synthetic import make_session

    mem = tmp_path / "mem"
    with MemoryStore.open(mem, embedding_dim=96, patch_dim=96):  # the frozen trunk's dims
        pass
    root = make_session(tmp_path, n=6)
    assert main(["replay", str(root), "--out", str(tmp_path / "r.jsonl"), "--memory", str(mem), "--quiet"]) == 2
    assert "embedding_dim=96" in capsys.readouterr().err
    same_dims = tmp_path / "mem64"
    with MemoryStore.open(same_dims, embedding_dim=64, patch_dim=64, embedding_space="a retrained encoder"):
        pass
    assert main(["replay", str(root), "--out", str(tmp_path / "r.jsonl"), "--memory", str(same_dims),
                 "--quiet"]) == 2
    assert "'a retrained encoder'" in capsys.readouterr().err
    assert not (tmp_path / "r.jsonl").exists()


def test_pte_and_eager_share_one_embedding_space_named_by_the_weights(eager: InstanceEncoder,
                                                                        artifacts: Path) -> None:
    pte = PteEncoder(EncoderConfig(variant="fp32"))
    assert pte.space == eager.space and "224 px" in pte.space
    other = _edit_manifest(artifacts, source_weights={"file": "x.pth", "sha256": "0" * 64})
    # a program exported from other weights names another space, so a memory refuses it
    assert PteEncoder(EncoderConfig(variant="fp32", manifest=other)).space != eager.space


@pytest.mark.parametrize("field, value", [("runtime", "onnx"), ("variant", "int4"), ("threads", 0)])
def test_encoder_config_validation(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"EncoderConfig.{field}"):
        EncoderConfig(**{field: value})


@pytest.mark.slow
def test_replay_through_the_pte_gives_the_same_answers_as_eager(tmp_path: Path) -> None:
    """The demo session replayed through the default on-device path (the int8 program) and through eager
    (about a minute): the same responses, words and evidence; only a confidence may move (int8's scores
    are not eager's to the last digit, and the confidence is read from the energy margin)."""
    import re

    from device.app.replay import ReplayConfig, replay

    session = read_session(DEMO)
    answers = {}
    for runtime in ("pte", "eager"):
        config = ReplayConfig(encoder=EncoderConfig(runtime=runtime), progress=False)
        result = replay(session, tmp_path / f"{runtime}.jsonl", config=config)
        answers[runtime] = [(r.kind, r.item, re.sub(r"confidence \d\.\d+", "confidence", r.text), r.abstain,
                             r.evidence) for r in result.responses]
    assert answers["pte"] == answers["eager"] and answers["pte"]
