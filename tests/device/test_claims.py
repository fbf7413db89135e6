"""A patch shows at most one enrolled item: the one it clears by the most (perception.claimed_cells).

The phone's prototype is a look-alike of the keys (cosine 0.9), and its threshold lets that through:
in a frame that shows the keys, the phone's best match is the keys' patch. The keys clear it by more,
so it is theirs; the phone is still seen where it really is. Live frames and memory's recall agree.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from device.answering.assistant import Assistant, AssistantConfig
from device.answering.recall import Recall
from device.perception.encoder import Encoding
from device.perception.perception import claimed_cells
from device.session import FrameRecord, SessionInfo
from memory.store import MemoryStore

DIM, GRID = 8, (4, 4)
WALL, KEYS, OTHER = (np.eye(DIM, dtype=np.float32)[k] for k in range(3))
PHONE = (0.9 * KEYS + np.sqrt(1 - 0.81) * OTHER).astype(np.float32)  # the phone looks like the keys (0.9)


def view(**things: np.ndarray) -> np.ndarray:
    """(16, DIM): a wall all round, and each named thing at cell int(name[1:])."""
    patches = np.tile(WALL, (GRID[0] * GRID[1], 1))
    for name, v in things.items():
        patches[int(name[1:])] = v
    return patches


def test_a_patch_goes_to_the_item_that_clears_it_by_the_most() -> None:
    margins = np.array([[0.30, 0.05, -0.1],   # keys: cell 0 strongly
                        [0.10, 0.02, 0.20],   # phone: cell 0 weakly (the keys'), cell 2 its own
                        [-0.2, -0.1, -0.1]])  # never over its threshold
    assert claimed_cells(margins) == [(0, 0.30), (2, 0.20), None]
    # without its own cell the phone claims nothing: the keys clear both other cells by more
    assert claimed_cells(margins[:2, :2]) == [(0, 0.30), None]


def test_live_frames_and_recall_give_the_keys_patch_to_the_keys(tmp_path: Path) -> None:
    now = time.time()
    with MemoryStore.open(tmp_path / "mem", embedding_dim=DIM, patch_dim=DIM) as store:
        store.enroll_item("keys", 0.0, KEYS[None], 0.95, recorded_at=now)
        store.enroll_item("phone", 0.0, PHONE[None], 0.85, recorded_at=now)
        frames = [view(c5=KEYS), view(c5=KEYS, c10=PHONE)]  # the keys alone, then the keys and the phone
        for k, patches in enumerate(frames):
            store.add_keyframe(1.0 + k, k, "s", (0.0, 1.5, 0.0, 0.0, -20.0), WALL, patches, GRID,
                               recorded_at=now + 1.0 + k)
        keys, phone = store.item("keys"), store.item("phone")
        assert keys is not None and phone is not None
        recall = Recall(store, now, lambda pose, grid, cell: (float(cell), 0.0))
        seen, _ = recall.sightings(phone, 10.0, [keys])
        assert sorted((s.frame, s.cell) for s in seen) == [(1, 10)]  # not frame 0's keys
        alone, _ = recall.sightings(phone, 10.0)  # with no other item to claim it, the keys' patch is the phone's
        assert sorted((s.frame, s.cell) for s in alone) == [(0, 5), (1, 10)]

        assistant = Assistant(store, None, SessionInfo(fps=10, width=64, height=64), "s",  # type: ignore[arg-type]
                              AssistantConfig(thumbnails=None), clock_origin_unix=now)
        for k, patches in enumerate(frames):
            enc = Encoding(patches, GRID, WALL)
            got = {s.item: s.cell for s in assistant._look_for_items(FrameRecord(k, 1.0 + k, None), enc)}
            assert got == ({"keys": 5} if k == 0 else {"keys": 5, "phone": 10})
