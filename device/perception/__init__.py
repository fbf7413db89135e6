"""Perception: the encoder runtimes (.pte, eager), the keyframe gate, enrollment and sightings."""
