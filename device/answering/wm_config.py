"""The world-model answerer's settings (device/answering/wm_answerer.py): when an item counts as
left behind, and when an unsure answer names a second place."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from device.answering.baseline import CARRYABLE_ITEMS
from worldmodel.belief import BeliefConfig


@dataclass(frozen=True)
class WorldModelConfig:
    belief: BeliefConfig = field(default_factory=BeliefConfig)
    carryable: tuple[str, ...] = CARRYABLE_ITEMS
    alert_margin: float = 1.0  # energy by which "it stays there" must beat "it is carried"
    # the wearer is this far from where the item rests (nearer, the wearer is often still in its room,
    # and "you left it" comes too soon; chosen on development seeds, docs/history/BENCHMARKS-2026-11.md) ...
    leave_distance_m: float = 5.0
    min_away_s: float = 3.0  # ... and the item has not been seen for this long
    min_move_m: float = 2.0  # a stay this close to the item's enrollment or last alert is not a new put-down
    min_in_hand: int = 5  # an alert needs this many sightings of the item in hand since its last alert ...
    in_hand_window_s: float = 120.0  # ... and in this long before the rest began (the carry that led there) ...
    # ... seen while the wearer went this far (a box's diagonal): a put-down is min_move_m from the last rest, so
    # its carry went about that far (2.0 chosen from 1 and 2 on dev seeds 0-69 and 1040-1059; BENCHMARKS.md)
    min_carry_m: float = 2.0
    # ... or, seen in hand or not (a pocket, a bag, a hand held low), the move fits the wearer's own path
    # (moves.wearer_moved_it). Off, only a carry seen in hand licenses an alert (as before issue 21).
    carry_unseen: bool = True
    look_range_m: float = 3.0  # a place this close and in view, with the item unseen for ...
    miss_every_s: float = 2.0  # ... this long, is a miss (negative evidence); at most one per this long
    # An answer less confident than this also names the next place, when that place's energy is
    # within alternative_max_gap of the answer's: "If it isn't there, try the kitchen."
    alternative_below_confidence: float = 0.5
    alternative_max_gap: float = 2.0
    # A replay sets belief.margin_scale to its encoder runtime's device.encoder.SIGHTING_MARGIN (a
    # score margin means something else for each encoder); False keeps belief.margin_scale as given.
    margin_scale_from_encoder: bool = True

    def __post_init__(self) -> None:
        for name in ("alert_margin", "leave_distance_m", "min_away_s", "min_move_m", "min_in_hand",
                     "in_hand_window_s", "min_carry_m", "alternative_below_confidence", "alternative_max_gap"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"WorldModelConfig.{name} must be a finite number >= 0, got {value!r}")
