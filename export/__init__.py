"""Quantize, lower and verify the encoder for ExecuTorch (not built yet: see issue 4)."""
