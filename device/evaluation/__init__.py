"""Evaluation: score responses against a session's truth/ (never imported by the runtime)."""
