"""`ami memory ...`: inspect, verify, rebuild, forget, export and import a memory folder."""

from __future__ import annotations

import argparse


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """Add the `memory` command and its subcommands to the `ami` parser."""
