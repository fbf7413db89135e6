"""PT2E int8 quantization of the encoder with the XNNPACK quantizer, calibrated on real frames.

Static, per-channel symmetric int8 weights and per-tensor int8 activations (HistogramObserver),
the scheme that suits CNNs on XNNPACK. Calibration runs the keyframes a wearer's glasses would
encode: the frames of recorded sessions that pass the device's keyframe gate, resized exactly as
on the device (device/perception/encoder.py to_input). Never one random input.

Mixed precision, found per export (`sensitive_blocks`): the blocks whose int8 error costs the most
(the first convolutions, at full resolution, on most networks) stay in fp32. Each block is kept in
fp32 alone and the gain in cosine to eager is measured (per-layer error); then blocks are kept in
that order until the int8 program is as close to eager as eager is to itself on the frame with +-1
grey level of noise (the noise floor) in every calibration session, the worst one deciding (a house
of plain surfaces moves less under noise than a textured one, and int8 must hold in both), with 95%
confidence (the mean per-frame gap plus two standard errors: a tie on the search's frames is a coin
toss on the next house's), or until `max_fp32_blocks` are. No block is named by hand.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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
    # Blocks kept in fp32: None finds them (module docstring); () quantizes every block.
    keep_fp32: tuple[str, ...] | None = None
    max_fp32_blocks: int = 4  # the search keeps at most this many (each costs int8's speed where it runs)
    search_frames: int = 48  # calibration keyframes each trial of the search calibrates on and is measured on

    def __post_init__(self) -> None:
        if self.calibration_frames < MIN_CALIBRATION_FRAMES:
            raise ValueError(f"QuantizeConfig.calibration_frames must be >= {MIN_CALIBRATION_FRAMES} "
                             f"(real frames), got {self.calibration_frames}")
        if self.max_fp32_blocks < 0 or self.search_frames < 1:
            raise ValueError("QuantizeConfig.max_fp32_blocks must be >= 0 and search_frames >= 1, got "
                             f"{self.max_fp32_blocks} and {self.search_frames}")


def blocks(net: torch.nn.Module) -> list[str]:
    """The network's blocks, in order: the outermost modules that are a convolution, or that hold one
    and sit in an nn.Sequential or nn.ModuleList (a MobileNetV2 stage, a head's layer)."""
    from torch import nn

    def has_conv(m: nn.Module) -> bool:
        return any(isinstance(x, nn.Conv2d) for x in m.modules())

    parents = dict(net.named_modules())
    out: list[str] = []
    for name, module in net.named_modules():
        if not name or any(name.startswith(b + ".") for b in out):
            continue
        parent = parents[name.rpartition(".")[0]]
        if isinstance(module, nn.Conv2d) or (isinstance(parent, (nn.Sequential, nn.ModuleList)) and has_conv(module)):
            out.append(name)
    return out


def _quantizer(per_channel: bool, keep_fp32: tuple[str, ...]) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    class MixedQuantizer(XNNPACKQuantizer):
        """XNNPACK's quantizer, leaving the nodes of the `keep_fp32` modules unannotated (fp32)."""

        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            model = super().annotate(model)
            for node in model.graph.nodes:
                paths = [path for path, _ in node.meta.get("nn_module_stack", {}).values()]
                if any(p == b or p.startswith(b + ".") for p in paths for b in keep_fp32):
                    node.meta.pop("quantization_annotation", None)
            return model

    return MixedQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel, is_dynamic=False))


def _convert(exported: torch.fx.GraphModule, inputs: list[torch.Tensor], per_channel: bool,
             keep_fp32: tuple[str, ...]) -> torch.fx.GraphModule:
    import torch
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(copy.deepcopy(exported), _quantizer(per_channel, keep_fp32))
    with torch.no_grad():
        for x in inputs:
            prepared(x)
    return convert_pt2e(prepared)


def _cosines(reference: list[torch.Tensor], module: Any, inputs: list[torch.Tensor]) -> list[float]:
    """Per frame, the mean over cells of the cosine between the two feature maps."""
    import torch

    with torch.no_grad():
        return [float(torch.nn.functional.cosine_similarity(r, module(x), dim=1).mean())
                for r, x in zip(reference, inputs)]


def _upper_bound(values: list[float], sessions: list[str]) -> dict[str, float]:
    """Per session, the mean of `values` plus two standard errors (about 95% confidence)."""
    groups: dict[str, list[float]] = {}
    for v, s in zip(values, sessions):
        groups.setdefault(s, []).append(v)
    return {s: float(np.mean(vs) + 2.0 * np.std(vs, ddof=1) / np.sqrt(len(vs))) if len(vs) > 1 else vs[0]
            for s, vs in groups.items()}


def sensitive_blocks(net: torch.nn.Module, calibration: KeyframeSet,
                     config: QuantizeConfig = QuantizeConfig()) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The blocks to keep in fp32 (module docstring), and the search's figures for the manifest."""
    import torch

    step = max(1, len(calibration.inputs) // config.search_frames)
    picked = list(range(0, len(calibration.inputs), step))[:config.search_frames]
    inputs = [calibration.inputs[k] for k in picked]
    sessions = [calibration.sources[k][0] for k in picked]
    exported = torch.export.export(net.eval(), (inputs[0],)).module()
    generator = torch.Generator().manual_seed(0)
    noisy = [torch.clamp(x + torch.randint(-1, 2, x.shape, generator=generator) / 255.0, 0.0, 1.0) for x in inputs]
    with torch.no_grad():
        reference = [net(x) for x in inputs]
    floor = _cosines(reference, net, noisy)  # eager against itself, +-1 grey level, per frame

    def short(keep: tuple[str, ...]) -> float:
        """How far int8 falls short of the floor in the worst session, with 95% confidence (< 0: closer)."""
        got = _cosines(reference, _convert(exported, inputs, config.per_channel, keep), inputs)
        return max(_upper_bound([f - g for f, g in zip(floor, got)], sessions).values())

    all_int8 = short(())
    figures: dict[str, Any] = {"search_frames": len(inputs), "cosine_noise_floor": float(np.mean(floor)),
                               "shortfall_all_int8": all_int8}
    if all_int8 <= 0.0 or config.max_fp32_blocks == 0:
        return (), {**figures, "fp32_blocks": [], "shortfall_mixed": all_int8}
    gains = {b: all_int8 - short((b,)) for b in blocks(net)}
    keep: tuple[str, ...] = ()
    shortfall = all_int8
    for b in sorted(gains, key=lambda b: -gains[b])[:config.max_fp32_blocks]:
        keep = keep + (b,)
        shortfall = short(keep)
        log.info("int8 with %s in fp32: the worst session's cosine %.4f below its noise floor (95%% bound)",
                 ", ".join(keep), shortfall)
        if shortfall <= 0.0:
            break
    gain_figures = {b: round(g, 5) for b, g in gains.items()}
    return keep, {**figures, "fp32_blocks": list(keep), "shortfall_mixed": shortfall,
                  "gain_in_fp32_alone": gain_figures}


def quantize_int8(net: torch.nn.Module, calibration: KeyframeSet, config: QuantizeConfig = QuantizeConfig(),
                  keep_fp32: tuple[str, ...] = ()) -> torch.nn.Module:
    """The PT2E-quantized module (quantize/dequantize around int8 ops; the `keep_fp32` blocks left
    in fp32), ready for torch.export."""
    import torch

    n = len(calibration.inputs)
    if n < MIN_CALIBRATION_FRAMES:
        raise ValueError(f"calibration needs >= {MIN_CALIBRATION_FRAMES} real frames, got {n} from "
                         f"{calibration.sessions}; record longer sessions or add --calib-seeds")
    exported = torch.export.export(net.eval(), (calibration.inputs[0],)).module()
    module = _convert(exported, calibration.inputs, config.per_channel, keep_fp32)
    log.info("calibrated int8 on %d keyframes from %s (fp32: %s)", n, calibration.sessions,
             ", ".join(keep_fp32) or "none")
    return module
