"""`InstanceEncoder`: keyframes encoded by the frozen MobileNetV2 plus the learned instance head.

The device's network in eager PyTorch (runtime "eager"): an `EncoderRuntime` (device/perception/encoder.py)
whose patches are the head's per-cell embeddings (a 14x14 grid at 224 px, 64-d) instead of the
frozen 96-d stride-16 features. Its embedding space names the backbone weights and the head's
weights, so a memory written by the frozen encoder (or another head) refuses it. `ami export`
lowers backbone + head to the `.pte` programs the glasses run (export/artifacts), verified against
this encoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from device.perception.encoder import EncoderConfig, Encoding, embedding_space, to_encoding, to_input
from device.errors import ModelError
from core.paths import WORLDMODEL_ARTIFACTS

if TYPE_CHECKING:
    import torch

    from worldmodel.instance_head import LoadedHead

INSTANCE_MODEL = "MobileNetV2 features[:7]+[:14] + instance head"
SHIPPED_HEAD = WORLDMODEL_ARTIFACTS / "instance_head.pt"  # the head the glasses run (`ami train perception`)


class InstanceEncoder:
    """Backbone + instance head, eager, on `config.threads` threads; `threshold` is the head's one
    cosine threshold across items (chosen on its training seeds)."""

    def __init__(self, config: EncoderConfig = EncoderConfig(runtime="eager"), head: Path = SHIPPED_HEAD) -> None:
        import torch

        from worldmodel.backbone import load_mobilenet_v2, mobilenet_v2_weights_path, sha256_file
        from worldmodel.instance_head import MultiScaleFeatures

        self.config = config
        torch.set_num_threads(config.threads)
        loaded = load_instance_head(head)
        try:
            weights = mobilenet_v2_weights_path()
            self._net = MultiScaleFeatures(load_mobilenet_v2(weights)).eval()
        except (FileNotFoundError, RuntimeError) as e:
            raise ModelError(f"cannot load the MobileNetV2 backbone: {e}") from e
        self._head = loaded.head
        self.dim = loaded.head.config.dim
        self.threshold = loaded.threshold
        self.model = f"{INSTANCE_MODEL} ({loaded.space})"  # what the network computes, head included
        self.weights = {"file": weights.name, "sha256": sha256_file(weights), "head_file": Path(head).name,
                        "head_space": loaded.space}
        self.space = embedding_space(self.model, self.weights["sha256"], config.input_px)
        self._torch = torch

    def network(self) -> torch.nn.Module:
        """Backbone and head as one module, the one `ami export --model instance` lowers."""
        from worldmodel.instance_head import InstanceNet

        return InstanceNet(self._net, self._head).eval()

    def features(self, x: torch.Tensor) -> np.ndarray:
        """(1, 3, px, px) float in [0, 1] -> (dim, gh, gw) float32, unit vectors per cell."""
        with self._torch.inference_mode():
            return self._head(*self._net(x))[0].numpy()

    def encode(self, rgb: np.ndarray) -> Encoding:
        """rgb: (H, W, 3) uint8 -> Encoding (patches: the head's per-cell embeddings)."""
        return to_encoding(self.features(to_input(rgb, self.config.input_px)))


def load_instance_head(path: Path) -> LoadedHead:
    """The instance head checkpoint at `path`, or ModelError naming the file and what to do."""
    from worldmodel.errors import CheckpointError
    from worldmodel.instance_head import load_checkpoint

    try:
        return load_checkpoint(path)
    except CheckpointError as e:
        raise ModelError(str(e)) from e
