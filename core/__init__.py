"""What every ami package shares: the pose type, angle and camera geometry, atomic file writes, the base error.

`core` imports nothing of ours, and nothing heavy (numpy only), so any package may import it.
"""
