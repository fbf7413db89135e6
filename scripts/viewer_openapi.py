"""Write `ami view`'s OpenAPI document to docs/viewer-openapi.json, so that API changes are
reviewed in diffs (tests/device/test_viewer.py checks it is current).

    .venv/bin/python scripts/viewer_openapi.py
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from device.app.viewer import build_app, openapi_json  # noqa: E402

OUT = ROOT / "docs" / "viewer-openapi.json"


def main() -> int:
    # The document describes routes and schemas only; no memory is read, so a stand-in is enough.
    app = build_app(types.SimpleNamespace(), token="openapi")  # type: ignore[arg-type]
    OUT.write_text(openapi_json(app), encoding="utf-8")
    print(f"Wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
