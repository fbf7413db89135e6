"""PT2E int8 quantization of the encoder with the XNNPACK quantizer, calibrated on real frames.

Static, per-channel symmetric int8 weights and per-tensor int8 activations (HistogramObserver),
the scheme that suits CNNs on XNNPACK. Calibration runs the keyframes a wearer's glasses would
encode: the frames of recorded sessions that pass the device's keyframe gate, resized exactly as
on the device (device/perception/encoder.py to_input). Never one random input.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from export.frames import KeyframeSet

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SCHEME_INT8 = "pt2e-xnnpack-int8-static-per-channel-symmetric"
MIN_CALIBRATION_FRAMES = 32


@dataclass(frozen=True)
class QuantizeConfig:
    calibration_frames: int = 96  # keyframes used, spread evenly over the calibration sessions
    per_channel: bool = True

    def __post_init__(self) -> None:
        if self.calibration_frames < MIN_CALIBRATION_FRAMES:
            raise ValueError(f"QuantizeConfig.calibration_frames must be >= {MIN_CALIBRATION_FRAMES} "
                             f"(real frames), got {self.calibration_frames}")


def quantize_int8(net: torch.nn.Module, calibration: KeyframeSet,
                  config: QuantizeConfig = QuantizeConfig()) -> torch.nn.Module:
    """The PT2E-quantized module (quantize/dequantize around int8 ops), ready for torch.export."""
    import torch
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    n = len(calibration.inputs)
    if n < MIN_CALIBRATION_FRAMES:
        raise ValueError(f"calibration needs >= {MIN_CALIBRATION_FRAMES} real frames, got {n} from "
                         f"{calibration.sessions}; record longer sessions or add --calib-seeds")
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=config.per_channel, is_dynamic=False))
    example = (calibration.inputs[0],)
    prepared = prepare_pt2e(torch.export.export(net.eval(), example).module(), quantizer)
    with torch.no_grad():
        for x in calibration.inputs:
            prepared(x)
    log.info("calibrated int8 on %d keyframes from %s", n, calibration.sessions)
    return convert_pt2e(prepared)
