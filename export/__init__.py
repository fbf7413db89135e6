"""Quantize, lower, verify and write the encoder for ExecuTorch (`ami export`; docs/export.md)."""
