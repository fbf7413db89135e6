"""Everything that runs on the glasses: frame sources, keyframe gate, encoder, the assistant loop,
replay and scoring, and the `ami` command line."""
