"""Write the companion's OpenAPI document to docs/companion-openapi.json, so that API changes are
reviewed in diffs (tests/companion_app checks it is current).

    .venv/bin/python scripts/companion_openapi.py
"""

from __future__ import annotations

import sys
import tempfile
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from companion_app.server import ServeConfig, build_app, openapi_json  # noqa: E402

OUT = ROOT / "docs" / "companion-openapi.json"


def main() -> int:
    # The document describes routes and schemas only; no predictor runs, so a stand-in is enough.
    stand_in = types.SimpleNamespace(version="openapi", rollout=None)
    with tempfile.TemporaryDirectory() as state:
        app = build_app(ServeConfig(state_dir=Path(state), device="cpu"), stand_in, latent_dim=128)
        OUT.write_text(openapi_json(app), encoding="utf-8")
    print(f"Wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
