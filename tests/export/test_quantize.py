"""Mixed-precision int8: the network's blocks are found without naming them, the search keeps in fp32
the blocks whose int8 error costs the most until int8 is as close to eager as eager is to itself under
+-1 grey level, and a kept block really runs in fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from device.perception.encoder import to_input
from device.session import read_session
from export.frames import KeyframeSet
from export.quantize import QuantizeConfig, blocks, quantize_int8, sensitive_blocks
from tests.export.conftest import DEMO


class Toy(nn.Module):
    """Three stages; in the middle one each filter weighs one input channel hundreds of times more than
    the others, so int8 weights (one scale per filter) round the others away there."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stages = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU()))
        self.out = nn.Conv2d(16, 8, 1)
        with torch.no_grad():
            self.stages[1][0].weight[:, 0] *= 300.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.stages(x))


@pytest.fixture(scope="module")
def frames() -> KeyframeSet:
    """Forty real frames of the demo session at 32 px."""
    s = read_session(DEMO)
    picked = np.linspace(0, len(s.frames) - 1, 40).astype(int).tolist()
    return KeyframeSet([to_input(s.load_frame(i), 32) for i in picked], [("demo", i) for i in picked], ["demo"])


def test_blocks_are_the_outermost_convolution_holders_in_order() -> None:
    assert blocks(Toy()) == ["stages.0", "stages.1", "stages.2", "out"]


def test_the_shipped_network_splits_into_its_stages_and_head_layers() -> None:
    from device.perception.encoder import EncoderConfig
    from device.perception.instance_encoder import InstanceEncoder

    names = blocks(InstanceEncoder(EncoderConfig(runtime="eager")).network())
    assert names[:3] == ["features.low.0", "features.low.1", "features.low.2"] and names[-1] == "head.out"
    assert len(names) == 18


def test_the_search_keeps_the_costliest_block_in_fp32(frames: KeyframeSet) -> None:
    torch.set_num_threads(1)
    keep, figures = sensitive_blocks(Toy().eval(), frames, QuantizeConfig(calibration_frames=32, search_frames=16))
    assert figures["shortfall_all_int8"] > 0.0, "int8 alone is further from eager than the noise"
    assert keep and keep[0] == "stages.1", figures["gain_in_fp32_alone"]
    assert figures["shortfall_mixed"] < figures["shortfall_all_int8"]
    nothing, _ = sensitive_blocks(Toy().eval(), frames, QuantizeConfig(max_fp32_blocks=0, search_frames=16))
    assert nothing == ()


def test_a_kept_block_runs_in_fp32(frames: KeyframeSet) -> None:
    net = Toy().eval()

    def quantized_convs(module: torch.nn.Module) -> int:
        """Convolutions whose weight comes through a dequantize (int8 weights)."""
        return sum(1 for n in module.graph.nodes if n.target == torch.ops.aten.conv2d.default
                   and "dequantize" in str(n.args[1].target))

    assert quantized_convs(quantize_int8(net, frames)) == 4
    assert quantized_convs(quantize_int8(net, frames, keep_fp32=("stages.1",))) == 3
