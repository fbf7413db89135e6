"""Training: the instance head and the JEPA predictor, on recorded sessions (never imported by the runtime)."""
