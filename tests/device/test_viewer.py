"""`ami view`'s API on a real uvicorn server on loopback: what each route shows of a memory, and
what it refuses (no token, a wrong token, a path in place of a keyframe id, a forget by GET, a huge
body), with nothing changed. The pages in a real browser: test_viewer_browser.py."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from live_server import LiveServer, interruptible
from PIL import Image

from device.app.memory_view import MemoryView
from device.app.viewer import ViewConfig, build_app, openapi_json
from memory import MemoryStore

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-1234"
D = 16
GRID = (2, 2)
MARKER = b"KEYS-THUMB-5e1f"  # in the JPEG of every keyframe that shows the keys


def jpeg(seed: int, comment: bytes) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (24, 32, 3), np.uint8)).save(
        out, "JPEG", comment=comment)
    return out.getvalue()


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture
def memory(tmp_path: Path) -> Path:
    """Six keyframes walking along x; the keys are in cell 3 of keyframes 2 and 3; a place "hall"."""
    rng = np.random.default_rng(0)
    keys = unit(rng.standard_normal(D))
    with MemoryStore.open(tmp_path / "m", embedding_dim=D, patch_dim=D) as store:
        for i in range(6):
            patches = unit(rng.standard_normal((4, D)))
            if i in (2, 3):
                patches[3] = keys
            store.add_keyframe(float(i), i * 10, "walk", (float(i), 1.6, 0.0, 0.0, -10.0),
                               unit(rng.standard_normal(D)), patches, GRID, recorded_at=1.8e9 + i,
                               thumbnail=(jpeg(i, MARKER if i in (2, 3) else b"plain"), 0))
        store.enroll_item("keys", 2.0, keys[None, :], 0.95, recorded_at=1.8e9 + 2)
        store.name_place("hall", 0.0, 0.0, 0.0, "walk", replace_radius_m=1.0, recorded_at=1.8e9)
    return tmp_path / "m"


@pytest.fixture
def server(memory: Path):
    view = MemoryView(memory)
    try:
        with LiveServer(build_app(view, TOKEN)) as live:
            yield live
    finally:
        view.close()


def get(server: LiveServer, path: str, **params: object) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params={"token": TOKEN, **params})


def post(server: LiveServer, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", params={"token": TOKEN}, json=body)


def test_items_timeline_keyframe_and_thumbnail(server: LiveServer) -> None:
    items = get(server, "/api/items").json()
    assert [i["item"] for i in items] == ["keys"]
    keys = items[0]
    assert keys["keyframe"] is not None and not keys["abstain"] and keys["since"] == 1.8e9 + 3
    assert keys["ring"] == {"x": 0.75, "y": 0.75}  # cell 3 of a 2x2 grid: bottom right
    timeline = get(server, "/api/timeline").json()
    assert [k["frame"] for k in timeline] == [0, 10, 20, 30, 40, 50]
    assert [k["items"] for k in timeline] == [[], [], ["keys"], ["keys"], [], []]
    assert [k["frame"] for k in get(server, "/api/timeline", **{"from": 1.8e9 + 1, "to": 1.8e9 + 3}).json()] == [10, 20]
    shown = get(server, f"/api/keyframes/{keys['keyframe']}").json()
    assert shown["items"] == ["keys"] and shown["place"] == "hall" and shown["frame"] == 30
    thumb = get(server, f"/api/keyframes/{keys['keyframe']}/thumbnail")
    assert thumb.headers["content-type"] == "image/jpeg" and MARKER in thumb.content
    assert get(server, "/api/places").json() == [{"name": "hall", "x": 0.0, "z": 0.0}]
    assert get(server, "/api/map.png", item="keys").content.startswith(b"\x89PNG")
    rivals = get(server, "/api/items/keys/hypotheses").json()  # `ami explain`'s hypotheses
    assert [h["answer"] for h in rivals].count(True) == 1 and any(h["x"] is None for h in rivals)  # one is "carried"
    answered = next(h for h in rivals if h["answer"])
    assert abs(answered["x"] - keys["position"]["x"]) < 1.0 and abs(answered["z"] - keys["position"]["z"]) < 1.0
    assert get(server, "/api/items/wallet/hypotheses").json() == []


def test_ask_answers_as_ami_ask_does(server: LiveServer) -> None:
    answer = post(server, "/api/ask", {"text": "where are my keys?"}).json()
    assert answer["item"] == "keys" and answer["kind"] == "answer" and answer["keyframe"] is not None
    assert post(server, "/api/ask", {"text": ""}).status_code == 422


def test_the_first_page_sets_a_cookie_that_carries_the_token(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/", params={"token": TOKEN})
        assert page.status_code == 200 and "<title>ami view</title>" in page.text
        assert "httponly" in page.headers["set-cookie"].lower()
        assert client.get("/api/items").status_code == 200  # the cookie alone now


def test_refusals_change_nothing(server: LiveServer, memory: Path) -> None:
    before = (memory / "memory.db").read_bytes()
    assert httpx.get(f"{server.url}/api/items").status_code == 401  # no token
    assert httpx.get(f"{server.url}/", params={"token": "wrong"}).status_code == 401
    assert httpx.get(f"{server.url}/api/items", cookies={"ami_view_token": "wrong"}).status_code == 401
    assert httpx.post(f"{server.url}/api/forget", json={"kind": "all", "confirm": True}).status_code == 401
    for path in ("/api/keyframes/..%2F..%2Fmemory.db/thumbnail", "/api/keyframes/../memory.db",
                 "/api/keyframes/999/thumbnail", "/api/keyframes/-1/thumbnail"):
        r = get(server, path)
        assert 400 <= r.status_code < 500 and b"SQLite format" not in r.content, path
    assert get(server, "/api/forget", kind="all", confirm="true").status_code == 405  # forget by GET
    huge = httpx.post(f"{server.url}/api/forget", params={"token": TOKEN}, content=b"{" + b" " * 200_000 + b"}",
                      headers={"content-type": "application/json"})
    assert huge.status_code == 413
    assert post(server, "/api/forget", {"kind": "place", "place": "attic", "confirm": True}).status_code == 400
    assert post(server, "/api/forget", {"kind": "nonsense", "confirm": True}).status_code == 422
    assert len(get(server, "/api/timeline").json()) == 6
    assert (memory / "memory.db").read_bytes() == before


def test_the_pause_button_keeps_nothing_until_resumed(memory: Path) -> None:
    """Paused from the viewer, the memory refuses every keyframe (the store's guarantee, so every
    program that writes to it), and says so after a reopen; resumed, it keeps them again."""
    from memory.errors import MemoryPausedError

    def keyframe(store: MemoryStore) -> int:
        return store.add_keyframe(9.0, 90, "walk", None, unit(np.ones(D)), unit(np.ones((4, D))), GRID)

    view = MemoryView(memory)
    try:
        with LiveServer(build_app(view, TOKEN)) as server:
            assert get(server, "/api/pause").json() == {"paused": False, "since": None}
            assert httpx.post(f"{server.url}/api/pause", json={"paused": True}).status_code == 401  # no token
            assert post(server, "/api/pause", {"paused": True}).json()["paused"] is True
            with pytest.raises(MemoryPausedError, match="paused"):
                keyframe(view.store)
    finally:
        view.close()
    with MemoryStore.open_existing(memory) as store:
        assert store.pause.on and store.count() == 6
        with pytest.raises(MemoryPausedError):
            keyframe(store)
        store.pause.set(False)
        keyframe(store)
        assert store.count() == 7


def test_forget_an_item_counts_first_then_erases_everywhere(server: LiveServer, memory: Path) -> None:
    ask = post(server, "/api/forget", {"kind": "item", "item": "keys"}).json()
    assert ask == {"erased": False, "keyframes": 2, "items": ["keys"], "place_names": 0}
    assert len(get(server, "/api/timeline").json()) == 6  # counting erased nothing
    done = post(server, "/api/forget", {"kind": "item", "item": "keys", "confirm": True}).json()
    assert done == {"erased": True, "keyframes": 2, "items": ["keys"], "place_names": 0}
    assert get(server, "/api/items").json() == []
    assert [k["frame"] for k in get(server, "/api/timeline").json()] == [0, 10, 40, 50]
    folder_bytes = b"".join(p.read_bytes() for p in memory.iterdir() if p.is_file())
    assert MARKER not in folder_bytes  # the thumbnails' bytes are gone from the folder


def test_the_viewer_binds_loopback_unless_told(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--allow-remote"):
        ViewConfig(tmp_path, host="0.0.0.0")
    assert ViewConfig(tmp_path, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


def test_openapi_document_is_current(memory: Path) -> None:
    view = MemoryView(memory)
    try:
        app = build_app(view, TOKEN)
        doc = app.openapi()
        assert {"/api/items", "/api/timeline", "/api/keyframes/{keyframe_id}/thumbnail", "/api/ask",
                "/api/forget"} <= set(doc["paths"])
        shipped = ROOT / "docs" / "viewer-openapi.json"
        assert shipped.read_text() == openapi_json(app), \
            "docs/viewer-openapi.json is out of date: run .venv/bin/python scripts/viewer_openapi.py"
    finally:
        view.close()


def test_ami_view_prints_its_address_and_serves_it_until_interrupted(memory: Path) -> None:
    proc = interruptible([sys.executable, "-m", "device", "view", "--memory", str(memory), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
        assert found and "6 keyframes, 1 items, 6 thumbnails" in line, line
        url, token = found.groups()
        assert httpx.get(f"{url}/api/items", timeout=30).status_code == 401
        assert httpx.get(f"{url}/api/items", params={"token": token}, timeout=30).json()[0]["item"] == "keys"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 130 and proc.stderr and "ami view: interrupted" in proc.stderr.read()  # Ctrl-C's code
    with MemoryStore.open(memory) as store:  # it closed the memory: the lock is free, nothing damaged
        assert store.verify() == []
