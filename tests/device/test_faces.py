"""Face blurring of evidence thumbnails (device/perception/faces.py) on real faces.

The faces are a photograph shipped with matplotlib and the portraits MiniWorld hangs in its houses, at
the frame sizes the glasses record. A stored face must have lost its structure against a plain
thumbnail of the same frame, and the detector must no longer find it in the stored bytes.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from pathlib import Path

import cv2
import matplotlib.cbook
import numpy as np
import pytest
from PIL import Image

from device.errors import ModelError
from device.perception import faces
from device.perception.faces import FaceBlurError, ThumbnailConfig, Thumbnailer

SIZES = (128, 256)
Scene = Callable[[int, int], np.ndarray]  # (height, width) -> a frame
SESSION_FRAME = Path(__file__).resolve().parents[2] / "demo" / "session" / "frames" / "000018.jpg"


@pytest.fixture(scope="module")
def thumbnailer() -> Thumbnailer:
    return Thumbnailer()


def hopper(px: int) -> np.ndarray:
    """Grace Hopper's portrait photograph, `px` high, as a frame."""
    image = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    return np.asarray(image.resize((round(px * image.width / image.height), px), Image.Resampling.LANCZOS))


def portraits(step: int = 8) -> list[Path]:
    """Every step-th of MiniWorld's portrait textures, found without importing miniworld (it needs a display)."""
    spec = importlib.util.find_spec("miniworld")
    assert spec is not None and spec.submodule_search_locations, "miniworld is a dependency of this project"
    folder = Path(next(iter(spec.submodule_search_locations))) / "textures" / "portraits"
    return sorted(folder.glob("*.png"))[::step]


def on_wall(portrait: Path, px: int) -> np.ndarray:
    """A px-by-px view of a shaded grey wall with the painting filling about half of it, seen from a metre or two."""
    wall = np.linspace(150, 110, px, dtype=np.float32)[:, None, None] * np.ones((1, px, 3), np.float32)
    side, top, left = round(0.7 * px), round(0.1 * px), round(0.15 * px)
    painting = Image.open(portrait).convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
    wall[top:top + side, left:left + side] = np.asarray(painting)
    return wall.astype(np.uint8)


def decode(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "the stored bytes are a JPEG"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def detail(rgb: np.ndarray) -> float:
    """High-frequency energy: the variance of the Laplacian of the grey image."""
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def assert_faces_blurred(t: Thumbnailer, rgb: np.ndarray, boxes: list[faces.Box] | None = None) -> None:
    boxes = t.detect(rgb) if boxes is None else boxes
    assert boxes, "the detector finds the face in the original frame"
    thumb = t.make(rgb)
    assert thumb.faces >= len(boxes) >= 1
    stored = decode(thumb.jpeg)
    assert stored.shape == (thumb.height, thumb.width, 3)
    # The same frame shrunk and encoded the same way, without blurring: what would have been stored.
    plain_small = cv2.resize(rgb, (thumb.width, thumb.height), interpolation=cv2.INTER_AREA)
    plain = decode(cv2.imencode(".jpg", cv2.cvtColor(plain_small, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, t.config.jpeg_quality])[1].tobytes())
    s = thumb.width / rgb.shape[1]
    for x, y, w, h in boxes:
        region = np.s_[int(y * s):math.ceil((y + h) * s), int(x * s):math.ceil((x + w) * s)]
        change = float(np.abs(stored[region].astype(np.int16) - plain[region]).mean())
        assert change > 15.0, f"face at {(x, y, w, h)} changed by only {change:.1f} grey levels"
        assert detail(stored[region]) < 0.05 * detail(plain[region]), "the face's fine structure survived"
    assert t.detect(stored) == [], "the detector still finds a face in the stored thumbnail"


@pytest.mark.parametrize("px", SIZES)
def test_a_photographed_face_is_blurred_before_storing(thumbnailer: Thumbnailer, px: int) -> None:
    assert_faces_blurred(thumbnailer, hopper(px))


@pytest.mark.parametrize("px", SIZES)
def test_painted_faces_on_a_wall_are_blurred_before_storing(thumbnailer: Thumbnailer, px: int) -> None:
    frames = [on_wall(p, px) for p in portraits()]
    seen = [(rgb, boxes) for rgb in frames if (boxes := thumbnailer.detect(rgb))]
    assert len(frames) >= 10 and len(seen) >= len(frames) / 2, f"{len(seen)} of {len(frames)} portraits detected"
    for rgb, boxes in seen:
        assert_faces_blurred(thumbnailer, rgb, boxes)


@pytest.mark.parametrize("px", SIZES)
@pytest.mark.parametrize("mirrored", [False, True])
def test_a_face_in_profile_is_blurred_whichever_way_it_turns(thumbnailer: Thumbnailer, px: int, mirrored: bool) -> None:
    """A woman's head in profile, facing right (the frontal cascade misses it) and, mirrored, facing left."""
    rgb = on_wall(next(p for p in portraits(step=1) if p.name == "frederick_leighton1.png"), px)
    assert_faces_blurred(thumbnailer, np.ascontiguousarray(rgb[:, ::-1]) if mirrored else rgb)


def test_a_small_painting_in_a_recorded_session_frame_is_blurred(thumbnailer: Thumbnailer) -> None:
    """A 128 px MiniWorld frame of the demo session: the painted face is about 15 px high."""
    assert_faces_blurred(thumbnailer, np.asarray(Image.open(SESSION_FRAME).convert("RGB")))


def room(h: int, w: int) -> np.ndarray:
    """A flat-shaded room: ceiling, back wall, side walls, floor and a box on it."""
    ys, xs = np.mgrid[0:h, 0:w] / np.array([h, w], np.float32)[:, None, None]
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = (200, 200, 205)  # back wall
    rgb[ys < 0.25] = (230, 230, 230)
    rgb[(xs < 0.2 - 0.2 * np.abs(ys - 0.5)) | (xs > 0.8 + 0.2 * np.abs(ys - 0.5))] = (170, 165, 160)
    rgb[ys > 0.7] = (120, 85, 60)
    rgb[(ys > 0.55) & (ys < 0.8) & (xs > 0.55) & (xs < 0.7)] = (180, 30, 30)
    return rgb


def smooth_noise(h: int, w: int) -> np.ndarray:
    coarse = np.random.default_rng(7).integers(0, 256, (6, 6, 3), dtype=np.uint8)
    return cv2.GaussianBlur(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), h / 40)


@pytest.mark.parametrize("scene", [room, smooth_noise])
@pytest.mark.parametrize(("h", "w", "want"), [(128, 128, (128, 128)), (256, 256, (160, 160)),
                                              (64, 96, (64, 96)), (240, 320, (120, 160))])
def test_a_frame_without_faces_is_shrunk_never_upsampled(thumbnailer: Thumbnailer, scene: Scene, h: int, w: int,
                                                          want: tuple[int, int]) -> None:
    rgb = scene(h, w)
    thumb = thumbnailer.make(rgb)
    assert thumb.faces == 0
    assert (thumb.height, thumb.width) == want
    assert decode(thumb.jpeg).shape == (*want, 3)
    if want == (h, w):  # no face, no resize: only JPEG loss
        assert float(np.abs(decode(thumb.jpeg).astype(np.int16) - rgb).mean()) < 3.0


def test_fails_closed_when_the_blur_leaves_the_face(thumbnailer: Thumbnailer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "blur_regions", lambda rgb, boxes, margin, blocks: rgb.copy())
    with pytest.raises(FaceBlurError, match="still detectable"):
        thumbnailer.make(hopper(256))


def test_fails_closed_when_a_face_is_still_found_after_blurring_twice(thumbnailer: Thumbnailer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thumbnailer, "detect", lambda rgb: [(10, 10, 30, 30)])
    with pytest.raises(FaceBlurError):
        thumbnailer.make(room(128, 128))


def test_the_check_blurs_a_face_the_first_pass_missed(thumbnailer: Thumbnailer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([[], [(40, 40, 40, 40)], []])  # frame: missed; stored thumbnail: found; after the blur: none
    monkeypatch.setattr(thumbnailer, "detect", lambda rgb: next(answers))
    rgb = smooth_noise(256, 256)  # shrunk to 160 px: the check runs on other scales than the first pass
    thumb = thumbnailer.make(rgb)
    assert thumb.faces == 1
    stored = decode(thumb.jpeg).astype(np.int16)
    plain = cv2.resize(rgb, (160, 160), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert float(np.abs(stored[40:80, 40:80] - plain[40:80, 40:80]).mean()) > 5.0
    assert float(np.abs(stored[:20] - plain[:20]).mean()) < 3.0  # away from the box nothing changed


def test_a_frame_kept_at_its_size_without_a_face_is_not_checked_twice(thumbnailer: Thumbnailer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(thumbnailer, "detect", lambda rgb: calls.append(rgb.shape) or [])
    thumbnailer.make(smooth_noise(128, 128))  # stored at 128: the check would see the same pixels
    thumbnailer.make(smooth_noise(256, 256))  # shrunk to 160: checked
    assert calls == [(128, 128, 3), (256, 256, 3), (160, 160, 3)]


@pytest.mark.parametrize("kwargs", [dict(long_side_px=8), dict(jpeg_quality=0), dict(jpeg_quality=101),
                                    dict(min_face_px=2), dict(max_detect_side_px=32), dict(scale_factor=1.0),
                                    dict(min_neighbors=0), dict(margin=-0.1), dict(margin=1.5),
                                    dict(blur_blocks=0), dict(blur_blocks=20)])
def test_config_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=f"ThumbnailConfig.{next(iter(kwargs))}"):
        ThumbnailConfig(**kwargs)


@pytest.mark.parametrize("bad", [np.zeros((32, 32), np.uint8), np.zeros((32, 32, 4), np.uint8),
                                 np.zeros((32, 32, 3), np.float32), np.zeros((0, 32, 3), np.uint8)])
def test_rejects_images_that_are_not_rgb_uint8(thumbnailer: Thumbnailer, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        thumbnailer.make(bad)


def test_a_missing_cascade_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "CASCADES", ("haarcascade_frontalface_default.xml", "no_such_cascade.xml"))
    with pytest.raises(ModelError, match="no_such_cascade.xml"):
        Thumbnailer()
