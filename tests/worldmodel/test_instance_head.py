"""The instance head: shapes on real frames, checkpoint round trip, clear errors for a wrong file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from device.perception.encoder import to_input
from device.errors import ModelError
from device.perception.instance_encoder import SHIPPED_HEAD, load_instance_head
from worldmodel.backbone import load_mobilenet_v2
from worldmodel.instance_head import InstanceHead, InstanceHeadConfig, MultiScaleFeatures, save_checkpoint

DEMO_FRAMES = Path(__file__).resolve().parents[2] / "demo" / "session" / "frames"


@pytest.fixture(scope="module")
def features() -> tuple[torch.Tensor, torch.Tensor]:
    """Stride-8 and stride-16 features of two real MiniWorld frames of the demo session."""
    from PIL import Image

    torch.set_num_threads(1)
    paths = sorted(DEMO_FRAMES.glob("*.jpg"))[::50][:2]
    assert len(paths) == 2, f"demo session frames missing under {DEMO_FRAMES}"
    x = torch.cat([to_input(np.asarray(Image.open(p).convert("RGB")), 224) for p in paths])
    with torch.inference_mode():
        return MultiScaleFeatures(load_mobilenet_v2()).eval()(x)


def test_shapes_and_unit_norm(features: tuple[torch.Tensor, torch.Tensor]) -> None:
    s8, s16 = features
    assert s8.shape == (2, 32, 28, 28) and s16.shape == (2, 96, 14, 14)
    head = InstanceHead(InstanceHeadConfig(dim=48)).eval()
    with torch.inference_mode():
        e = head(s8, s16)
    assert e.shape == (2, 48, 14, 14)  # the frozen encoder's grid: one embedding per stride-16 cell
    assert torch.allclose(e.norm(dim=1), torch.ones(2, 14, 14), atol=1e-5)


def test_checkpoint_round_trip(tmp_path: Path, features: tuple[torch.Tensor, torch.Tensor]) -> None:
    head = InstanceHead().eval()
    path = tmp_path / "head.pt"
    space = save_checkpoint(path, head, 0.81, {"seeds": [0, 1]})
    loaded = load_instance_head(path)
    assert (loaded.threshold, loaded.space, loaded.meta["seeds"]) == (pytest.approx(0.81), space, [0, 1])
    with torch.inference_mode():
        assert torch.equal(head(*features), loaded.head(*features))
    assert not list(tmp_path.glob("*.tmp")), "the atomic write left its temp file"


def test_other_weights_give_another_space(tmp_path: Path) -> None:
    torch.manual_seed(1)
    a = save_checkpoint(tmp_path / "a.pt", InstanceHead(), 0.8, {})
    b = save_checkpoint(tmp_path / "b.pt", InstanceHead(), 0.8, {})
    assert a != b  # memories embedded by one head must not be read with the other


@pytest.mark.parametrize("case", ["missing", "not-torch", "foreign-dict", "wrong-shapes"])
def test_wrong_checkpoint_raises_model_error_naming_the_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.pt"
    if case == "not-torch":
        path.write_bytes(b"this is not a checkpoint")
    elif case == "foreign-dict":
        torch.save({"model": {}, "epoch": 3}, path)
    elif case == "wrong-shapes":
        save_checkpoint(path, InstanceHead(InstanceHeadConfig(hidden=64)), 0.8, {})
        blob = torch.load(path, weights_only=True)
        blob["config"]["hidden"] = 128  # the file says one layout, its weights are another
        torch.save(blob, path)
    with pytest.raises(ModelError, match=str(path)):
        load_instance_head(path)


def test_shipped_head_loads_and_was_trained_on_development_seeds() -> None:

    ck = load_instance_head(SHIPPED_HEAD)
    assert all(0 <= s <= 99 for s in ck.meta["seeds"]), "the shipped head saw a held-out seed"
    assert 0.0 < ck.threshold < 1.0 and ck.space.startswith("instance-head:")
