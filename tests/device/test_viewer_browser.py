"""`ami view` in a real browser: Debian's Chromium, headless, driven by Playwright (no browser
download: setup installs the apt package). A recorded MiniWorld session is replayed into a memory;
each page must show that session's items and thumbnails; a question gets its answer; forgetting an
item removes it from every page and its thumbnails' bytes from the memory folder.

Screenshots of each page go to $AMI_VIEWER_SCREENSHOTS when it is set; $AMI_VIEWER_SESSION replays
another session. The README's pictures: `AMI_VIEWER_SESSION=demo/session AMI_VIEWER_SCREENSHOTS=docs/images
.venv/bin/python -m pytest tests/device/test_viewer_browser.py`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Closed network: no background fetches, no sandbox (root in CI), no GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def replayed(sim_short_session: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device.cli.main import main

    session = Path(os.environ.get("AMI_VIEWER_SESSION", sim_short_session))
    out = tmp_path_factory.mktemp("viewer")
    assert main(["replay", str(session), "--out", str(out / "responses.jsonl"), "--memory", str(out / "memory"),
                 "--quiet"]) == 0
    return out / "memory"


def test_every_page_in_a_real_browser(replayed: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from device.app.memory_view import MemoryView
    from device.app.viewer import build_app

    shots = Path(os.environ.get("AMI_VIEWER_SCREENSHOTS", tmp_path))
    view = MemoryView(replayed)
    with LiveServer(build_app(view, TOKEN)) as server, sync_playwright() as p:
        api = httpx.Client(base_url=server.url, params={"token": TOKEN})
        items = [i for i in api.get("/api/items").json() if not i["abstain"]]
        timeline = api.get("/api/timeline").json()
        assert items and timeline and any(k["thumbnail"] for k in timeline), "the replay kept thumbnails"
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(f"{server.url}/?token={TOKEN}")

        # Items: one card per item, its evidence thumbnail loaded, the item ringed
        for item in items:
            card = page.locator(f'.card[data-item="{item["item"]}"]')
            # the answer's words (its "ago" and confidence move with the clock, so up to the evidence)
            expect(card).to_contain_text(item["text"].split(" (")[0].split(" ago")[0])
            expect(card.locator("img")).to_have_attribute("alt", f"keyframe {item['keyframe']}")
            expect(card.locator(".ring")).to_have_count(1 if item["ring"] else 0)
        page.wait_for_function("[...document.querySelectorAll('.card img')]"  # every evidence picture loads
                               ".every(i => i.complete && i.naturalWidth > 0)")
        page.screenshot(path=str(shots / "viewer-items.png"), full_page=True)

        # Timeline: every keyframe kept with a picture (each that saw an item, the others one every
        # 2 s); one with a sighting opens with the item named
        page.click("nav button[data-page=timeline]")
        pictures = [k for k in timeline if k["thumbnail"]]
        assert len(pictures) < len(timeline), "thinned: not every keyframe keeps a picture"
        expect(page.locator("#strip figure")).to_have_count(len(pictures))
        alerted = [k for k in timeline if k["alerts"]]  # marked on the keyframe each alert rested on
        expect(page.locator("#strip figure.alert")).to_have_count(len(alerted))
        for k in alerted:
            expect(page.locator(f'#strip figure[data-id="{k["id"]}"]')).to_contain_text(k["alerts"][0]["text"])
        page.wait_for_function("[...document.querySelectorAll('#strip img')].slice(0, 8)"
                               ".every(i => i.complete && i.naturalWidth > 0)")
        seen = next(k for k in pictures if k["items"])
        page.click(f'#strip figure[data-id="{seen["id"]}"]')
        expect(page.locator("#detail")).to_contain_text(f"Seen: {', '.join(seen['items'])}")
        page.screenshot(path=str(shots / "viewer-timeline.png"))

        # Map: a rendered plot
        page.click("nav button[data-page=map]")
        page.wait_for_function("document.getElementById('map-img').complete "
                               "&& document.getElementById('map-img').naturalWidth > 0")
        page.screenshot(path=str(shots / "viewer-map.png"), full_page=True)

        # Ask: the same answer as the API's
        target = items[0]
        page.click("nav button[data-page=ask]")
        page.fill("#ask-text", f"where is my {target['item']}")
        page.click("#ask-form button")
        expect(page.locator("#ask-answer .answer")).to_contain_text(target["item"])
        page.screenshot(path=str(shots / "viewer-ask.png"), full_page=True)

        # Pause: the button pauses the memory (nothing seen is kept) and resumes it
        page.click("#pause")
        expect(page.locator("#pause-state")).to_contain_text("Paused since")
        assert api.get("/api/pause").json()["paused"] is True and view.store.pause.on
        page.click("#pause")
        expect(page.locator("#pause")).to_have_text("Pause")
        assert not view.store.pause.on

        # Forget: the confirmation counts, the forget erases, the item leaves every page and the folder
        forgotten = api.post("/api/forget", json={"kind": "item", "item": target["item"]}).json()
        gone = [k for k in timeline if target["item"] in k["items"] and k["thumbnail"]]
        thumbs = [api.get(f"/api/keyframes/{k['id']}/thumbnail").content for k in gone]
        page.click("nav button[data-page=forget]")
        page.select_option("#forget-kind", "item")
        page.select_option("#forget-item", target["item"])
        page.click("#forget-form button")
        expect(page.locator("#forget-confirm")).to_contain_text(f"erase {forgotten['keyframes']} keyframes")
        page.screenshot(path=str(shots / "viewer-forget.png"), full_page=True)
        page.click("#forget-yes")
        expect(page.locator("#forget-done")).to_contain_text(f"Forgot {forgotten['keyframes']} keyframes")
        page.click("nav button[data-page=items]")
        expect(page.locator(f'.card[data-item="{target["item"]}"]')).to_have_count(0)
        page.click("nav button[data-page=timeline]")
        after = api.get("/api/timeline").json()
        assert len(after) == len(timeline) - forgotten["keyframes"]
        expect(page.locator("#strip figure")).to_have_count(sum(k["thumbnail"] for k in after))
        expect(page.locator("#strip")).not_to_contain_text(target["item"])
        browser.close()
        api.close()
    view.close()
    folder = b"".join(p.read_bytes() for p in replayed.iterdir() if p.is_file())
    assert gone and not [t for t in thumbs if t[-200:] in folder]  # the thumbnails' bytes are gone
