"""The GPU companion server for planning offload (not built yet: see issue 7)."""
