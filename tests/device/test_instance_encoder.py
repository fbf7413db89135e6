"""The instance-head encoder (the device's network, eager) on real MiniWorld frames: an
EncoderRuntime with its own embedding space, which a memory written by the frozen encoder refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.perception.encoder import EncoderConfig, FrozenEncoder
from device.errors import ModelError
from device.perception.instance_encoder import InstanceEncoder
from memory.errors import EmbeddingSpaceMismatchError
from memory.store import MemoryStore

DEMO_FRAME = Path(__file__).resolve().parents[2] / "demo" / "session" / "frames" / "000100.jpg"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(DEMO_FRAME).convert("RGB"))


def test_encodes_a_real_frame_into_unit_cells(frame: np.ndarray) -> None:
    enc = InstanceEncoder(EncoderConfig(runtime="eager", threads=1))
    e = enc.encode(frame)
    assert e.grid == (14, 14) and e.patches.shape == (196, enc.dim) and enc.dim == 64
    assert np.allclose(np.linalg.norm(e.patches, axis=1), 1.0, atol=1e-4)
    assert 0.0 < enc.threshold < 1.0


def test_a_frozen_encoder_memory_refuses_the_head(tmp_path: Path) -> None:
    frozen = FrozenEncoder(EncoderConfig(runtime="frozen", threads=1))
    head = InstanceEncoder(EncoderConfig(runtime="eager", threads=1))
    assert frozen.space != head.space
    with MemoryStore.open(tmp_path / "mem", embedding_dim=frozen.dim, patch_dim=frozen.dim,
                          embedding_space=frozen.space):
        pass
    with pytest.raises(EmbeddingSpaceMismatchError, match="instance head"):
        MemoryStore.open(tmp_path / "mem", embedding_space=head.space)


def test_a_wrong_head_file_is_a_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "head.pt"
    bad.write_bytes(b"nope")
    with pytest.raises(ModelError, match=str(bad)):
        InstanceEncoder(EncoderConfig(runtime="eager"), head=bad)


def test_make_encoder_builds_each_runtime() -> None:
    from device.perception.encoder import make_encoder

    assert isinstance(make_encoder(EncoderConfig(runtime="eager", threads=1)), InstanceEncoder)
    assert isinstance(make_encoder(EncoderConfig(runtime="frozen", threads=1)), FrozenEncoder)
