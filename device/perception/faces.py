"""Evidence thumbnails with faces blurred before anything is stored.

The memory keeps a small JPEG per keyframe as evidence ("here is where you left your keys"). The people
and portraits the wearer passes are not the wearer's to keep, so faces are blurred on the full-resolution
frame, where they are largest and easiest to find, before it is shrunk and encoded.

Detection is OpenCV's Haar cascades: frontal, and profile on the frame and its mirror image (the profile
cascade knows one side only). They ship with OpenCV, take tens of milliseconds on a 128-256 px frame and
find MiniWorld's painted faces as well as photographs. A cascade cannot see a face under its window
(24 px), so the grey image is upscaled until `min_face_px` fills it, within `max_detect_side_px`. No
histogram equalisation: on a rendered room's flat walls it turns JPEG noise into false faces.

A face is pixelated to a few blocks across, then Gaussian-blurred, so no eye, mouth or outline survives.
The stored bytes are then decoded and the detector run on them; what it finds is blurred once more, and
if a face is found after that, `make` raises FaceBlurError and the caller stores no thumbnail: a face the
detector can see is never stored. One it cannot (mostly out of frame, turned away, tiny) is not blurred.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import cv2.data  # the Haar cascades shipped with the wheel (an explicit import for the type checker)
import numpy as np

from device.errors import AmiError, ModelError

log = logging.getLogger(__name__)

Box = tuple[int, int, int, int]  # x, y, w, h in pixels of the image it was found on
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_profileface.xml")


class FaceBlurError(AmiError):
    """A face could still be found after blurring: the thumbnail is not stored."""


@dataclass(frozen=True)
class ThumbnailConfig:
    long_side_px: int = 160  # the stored thumbnail's longer side; smaller frames are never upsampled
    jpeg_quality: int = 80
    min_face_px: int = 12  # the smallest face looked for, in pixels of the full-resolution frame
    max_detect_side_px: int = 512  # the upscaled detection image's longer side, at most (bounds the cost)
    scale_factor: float = 1.1  # cascade pyramid step: smaller finds more, slower
    min_neighbors: int = 3  # overlapping hits a detection needs: higher misses more, lower fires on walls
    margin: float = 0.25  # each face box grows by this fraction of its size on every side (hair, chin, ears)
    blur_blocks: int = 4  # a blurred face is at most this many blocks across
    # A keyframe keeps a thumbnail when it saw an enrolled item (an answer's evidence) and otherwise at
    # most this often: the Timeline's strip needs no more, and the face blur is a replay's dearest step
    every_s: float = 2.0

    def __post_init__(self) -> None:
        rules = (
            (self.every_s >= 0.0, "every_s must be >= 0", self.every_s),
            (16 <= self.long_side_px <= 4096, "long_side_px must be in [16, 4096]", self.long_side_px),
            (1 <= self.jpeg_quality <= 100, "jpeg_quality must be in [1, 100]", self.jpeg_quality),
            (self.min_face_px >= 4, "min_face_px must be >= 4", self.min_face_px),
            (self.max_detect_side_px >= 64, "max_detect_side_px must be >= 64", self.max_detect_side_px),
            (1.0 < self.scale_factor <= 2.0, "scale_factor must be in (1, 2]", self.scale_factor),
            (self.min_neighbors >= 1, "min_neighbors must be >= 1", self.min_neighbors),
            (0.0 <= self.margin <= 1.0, "margin must be in [0, 1]", self.margin),
            (1 <= self.blur_blocks <= 8, "blur_blocks must be in [1, 8]", self.blur_blocks),
        )
        for ok, rule, got in rules:
            if not ok:
                raise ValueError(f"ThumbnailConfig.{rule}, got {got!r}")


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    faces: int  # face regions blurred (0: none seen)
    width: int
    height: int


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {rgb.shape} dtype {rgb.dtype}")


def merge_boxes(boxes: list[Box]) -> list[Box]:
    """Union boxes that overlap by half the smaller one: the cascades often fire twice on one face."""
    out: list[Box] = []
    for i, (bx, by, bw, bh) in enumerate(boxes):
        for k, (ax, ay, aw, ah) in enumerate(out):
            ix, iy = min(ax + aw, bx + bw) - max(ax, bx), min(ay + ah, by + bh) - max(ay, by)
            if ix > 0 and iy > 0 and ix * iy >= 0.5 * min(aw * ah, bw * bh):
                x0, y0 = min(ax, bx), min(ay, by)
                union = (x0, y0, max(ax + aw, bx + bw) - x0, max(ay + ah, by + bh) - y0)
                # The union may now meet another kept box: merge again, one box fewer each time.
                return merge_boxes([*out[:k], *out[k + 1:], union, *boxes[i + 1:]])
        out.append((bx, by, bw, bh))
    return out


def _fade(lo: int, hi: int, start: float, stop: float, feather: float) -> np.ndarray:
    """Blur weights of pixels lo..hi-1 of a grown box spanning start..stop: 0 at its edges, 1 from `feather` in.
    Measured on the unclipped box, so a face cut by the frame's edge stays fully blurred up to it."""
    p = np.arange(lo, hi, dtype=np.float32) + 0.5
    return np.clip(np.minimum(p - start, stop - p) / feather, 0.0, 1.0) if feather >= 1.0 else np.ones_like(p)


def blur_regions(rgb: np.ndarray, boxes: list[Box], margin: float, blocks: int) -> np.ndarray:
    """A copy of `rgb` with each box, grown by `margin`, pixelated to `blocks` across and smoothed."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    for x, y, bw, bh in boxes:
        gx0, gy0, gx1, gy1 = x - margin * bw, y - margin * bh, x + bw + margin * bw, y + bh + margin * bh
        x0, y0, x1, y1 = max(0, int(gx0)), max(0, int(gy0)), min(w, math.ceil(gx1)), min(h, math.ceil(gy1))
        if x1 <= x0 or y1 <= y0:
            continue
        region, rw, rh = out[y0:y1, x0:x1].astype(np.float32), x1 - x0, y1 - y0
        # Area-averaging to a few blocks throws the structure away; smoothing the upsampled blocks then
        # removes the block edges, which a cascade could otherwise read as a face's dark-light bands.
        coarse = cv2.resize(region, (min(blocks, rw), min(blocks, rh)), interpolation=cv2.INTER_AREA)
        smooth = cv2.resize(coarse, (rw, rh), interpolation=cv2.INTER_LINEAR)
        smooth = cv2.GaussianBlur(smooth, (0, 0), max(rw, rh) / (2.0 * blocks), borderType=cv2.BORDER_REPLICATE)
        # The outer half of the margin fades into the surroundings: a hard-edged flat patch on a textured
        # wall is itself a light-dark pattern a cascade can take for a new face.
        alpha = np.minimum.outer(_fade(y0, y1, gy0, gy1, margin * bh / 2), _fade(x0, x1, gx0, gx1, margin * bw / 2))
        out[y0:y1, x0:x1] = np.rint(alpha[:, :, None] * smooth + (1.0 - alpha[:, :, None]) * region).astype(np.uint8)
    return out


def _decode(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FaceBlurError("cannot decode the thumbnail just encoded: it cannot be checked for faces")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class Thumbnailer:
    def __init__(self, config: ThumbnailConfig = ThumbnailConfig()) -> None:
        self.config = config
        self._frontal, self._profile = (self._load(name) for name in CASCADES)
        # The smallest face either cascade can see, in pixels of the image it runs on.
        self._window_px = max(max(c.getOriginalWindowSize()) for c in (self._frontal, self._profile))

    @staticmethod
    def _load(name: str) -> cv2.CascadeClassifier:
        path, cascade = os.path.join(cv2.data.haarcascades, name), cv2.CascadeClassifier()
        try:
            loaded = os.path.isfile(path) and cascade.load(path) and not cascade.empty()
        except cv2.error:  # a corrupt file raises rather than returning False
            loaded = False
        if not loaded:
            raise ModelError(f"cannot load the face cascade {path}: reinstall opencv-python-headless")
        return cascade

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) on an (H, W, 3) uint8 RGB image; overlapping hits are merged."""
        _check_rgb(rgb)
        c = self.config
        h, w = rgb.shape[:2]
        # 2x by default: without it most painted faces of a recorded 128 px MiniWorld session are missed.
        up = max(1.0, min(self._window_px / c.min_face_px, c.max_detect_side_px / max(h, w)))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        grey = cv2.resize(grey, (round(w * up), round(h * up)), interpolation=cv2.INTER_LINEAR)  # a copy at 1x
        side = max(self._window_px, round(c.min_face_px * up))
        boxes: list[Box] = []
        for cascade, mirrored in ((self._frontal, False), (self._profile, False), (self._profile, True)):
            image = cv2.flip(grey, 1) if mirrored else grey
            found = cascade.detectMultiScale(image, scaleFactor=c.scale_factor, minNeighbors=c.min_neighbors,
                                             minSize=(side, side))
            for x, y, bw, bh in np.asarray(found, dtype=np.int64).reshape(-1, 4).tolist():
                x = grey.shape[1] - x - bw if mirrored else x
                # Back to the caller's pixels, rounding outwards so the box never shrinks.
                x0, y0 = int(x / up), int(y / up)
                x1, y1 = min(w, math.ceil((x + bw) / up)), min(h, math.ceil((y + bh) / up))
                boxes.append((x0, y0, x1 - x0, y1 - y0))
        return merge_boxes(boxes)

    def _encode(self, rgb: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise FaceBlurError(f"cannot encode a {rgb.shape[1]}x{rgb.shape[0]} thumbnail as JPEG")
        return buf.tobytes()

    def make(self, rgb: np.ndarray) -> Thumbnail:
        """The stored thumbnail of a frame, faces blurred; FaceBlurError when a face survives blurring."""
        c = self.config
        boxes = self.detect(rgb)
        frame = blur_regions(rgb, boxes, c.margin, c.blur_blocks) if boxes else rgb
        h, w = rgb.shape[:2]
        scale = min(1.0, c.long_side_px / max(h, w))
        tw, th = max(1, round(w * scale)), max(1, round(h * scale))
        thumb = cv2.resize(frame, (tw, th), interpolation=cv2.INTER_AREA) if scale < 1.0 else frame
        faces, jpeg = len(boxes), self._encode(thumb)
        # The check runs the same detector on the stored pixels. On a shrunk thumbnail its pyramid lands
        # on other scales than the first pass, and Haar hits are scale-sensitive, so it also catches
        # faces the first pass missed; faces under min_face_px of the thumbnail rely on the first pass.
        # A frame with no face kept at its own size would be checked on the same pixels at the same
        # scales (JPEG-compressed only): that check is skipped, which halves the cost of most keyframes.
        if not boxes and scale == 1.0:
            return Thumbnail(jpeg=jpeg, faces=0, width=tw, height=th)
        survivors = self.detect(_decode(jpeg))
        if survivors:  # missed by the first pass, or left readable by the blur: one more try
            thumb, faces = blur_regions(thumb, survivors, c.margin, c.blur_blocks), faces + len(survivors)
            jpeg = self._encode(thumb)
            survivors = self.detect(_decode(jpeg))
            if survivors:
                raise FaceBlurError(f"a face at {survivors} (x, y, w, h) is still detectable in the "
                                    f"{tw}x{th} thumbnail after blurring twice: thumbnail not stored")
        return Thumbnail(jpeg=jpeg, faces=faces, width=tw, height=th)


class ThumbnailKeeper:
    """Which keyframes keep a thumbnail, made off the frame loop: every keyframe that is evidence (it
    saw an enrolled item), the others at most every `every_s`. The face blur and JPEG run on one
    worker thread (OpenCV lets go of the GIL), so the glasses encode the next frames meanwhile; the
    finished ones come back from `ready` to the memory's one writer. A thumbnail the blur cannot
    vouch for is never kept (the reason is logged)."""

    def __init__(self, config: ThumbnailConfig) -> None:
        self.config = config
        self._thumbnailer: Thumbnailer | None = None  # made on the worker (its cascades load once)
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="thumbnails")
        self._pending: deque[tuple[int, int, float, Future[Thumbnail]]] = deque()  # (keyframe id, frame, t, job)
        self._last_t, self._last_id = -math.inf, 0  # the last keyframe given a picture, and when

    def submit(self, keyframe_id: int, t: float, frame: int, rgb: np.ndarray, evidence: bool) -> None:
        """Make the thumbnail of this keyframe (memory's id) if it keeps one."""
        if keyframe_id == self._last_id or not evidence and t - self._last_t < self.config.every_s:
            return  # already making it, or not due
        self._last_t, self._last_id = t, keyframe_id
        self._pending.append((keyframe_id, frame, t, self._worker.submit(self._make, rgb.copy())))

    def _make(self, rgb: np.ndarray) -> Thumbnail:
        self._thumbnailer = self._thumbnailer or Thumbnailer(self.config)
        return self._thumbnailer.make(rgb)

    def ready(self, wait: bool = False) -> list[tuple[int, bytes, int]]:
        """(keyframe id, JPEG bytes, faces blurred) of the thumbnails finished, in order; with wait,
        of all submitted."""
        out = []
        while self._pending and (wait or self._pending[0][3].done()):
            keyframe_id, frame, t, job = self._pending.popleft()
            try:
                thumb = job.result()
            except FaceBlurError as e:
                log.warning("frame %d (t=%.2f) kept without its thumbnail: %s", frame, t, e)
                continue
            out.append((keyframe_id, thumb.jpeg, thumb.faces))
        return out
