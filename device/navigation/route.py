"""Answer "take me to my X": the companion's plan when one is paired and answers, else the place graph.

The companion plans in the JEPA latent space: the start is the latent of what the wearer sees now,
the goal the latent of the memory keyframe where the item was seen (the evidence of the locate
answer). When the glasses know where the wearer is, the request also carries the next point of the
place graph's route, relative to the wearer (the planning energy's waypoint term: the latent alone
does not know where the walls are). Its pose-delta actions become spoken steps. When no companion
was paired, or it is away (unreachable, slow, failing), the glasses route over the place graph of
memory's keyframe poses instead, and say which of the two they used. Without a pairing nothing
touches the network.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from device.navigation.companion_client import CompanionClient, Plan
from device.errors import CompanionError, CompanionUnavailable
from device.navigation.guidance import distance_text, egocentric, item_bearing, path_steps, plan_path, spoken
from device.navigation.place_graph import Place, PlaceGraph, PlaceGraphConfig, places_in
from device.responses import Response
from device.session import Pose

if TYPE_CHECKING:
    from memory.store import MemoryStore

log = logging.getLogger(__name__)

AWAY = "The companion is away, here is a simpler route"
REFUSED = "The companion refused the request ({why}), here is a simpler route"
LOCAL = "Here is a route from memory"
PLANNED = "The companion planned the first steps"
OTHER_ENCODER = "The companion plans on another encoder's view, here is a route from memory"
FACE_MIN_M = 0.5  # closer than this the route ends on the item: no last turn to face it
STOP_M = 0.7  # a route heads for the item's answered position and may stop this far from it


@dataclasses.dataclass(frozen=True)
class RouteResult:
    """How the route was made, for logs and benchmarks."""

    source: str  # "companion" | "place-graph" | "none"
    text: str
    plan: Plan | None
    waypoints: tuple[tuple[float, float], ...]


class RouteGuide:
    """Turns a locate answer into a route answer; owns the JEPA predictor once a companion needs it."""

    def __init__(self, store: MemoryStore, companion: CompanionClient | None = None,
                 graph: PlaceGraphConfig = PlaceGraphConfig()) -> None:
        self.store = store
        self.companion = companion
        self.graph_config = graph
        self._predictor: Any = None
        self.last: RouteResult | None = None  # the latest route, for logs and tests
        self.graph: PlaceGraph | None = None  # the latest route's place graph (None: memory has no places)

    def predictor(self) -> Any:
        if self._predictor is None:
            from worldmodel.jepa import load_predictor

            self._predictor = load_predictor()
        return self._predictor

    def latent(self, patches: np.ndarray) -> np.ndarray:
        """(N, C) patches of one keyframe -> (D,) JEPA latent."""
        import torch

        with torch.inference_mode():
            return self.predictor().encode(torch.from_numpy(np.asarray(patches, np.float32))[None])[0].numpy()

    def answer(self, located: Response, here: Pose | None, patches_now: np.ndarray | None) -> Response:
        self.last = self.route(located, here, patches_now)
        return dataclasses.replace(located, text=self.last.text)

    def route(self, located: Response, here: Pose | None, patches_now: np.ndarray | None) -> RouteResult:
        places = places_in(self.store)
        # the place graph of this question, built once: the route's steps, and the live guide's (live_guide.py)
        self.graph = PlaceGraph(places, self.graph_config) if places else None
        lead = LOCAL
        if self.companion is not None and patches_now is not None:
            goal = self._goal_place(located, places)
            want = self.predictor().config.patch_dim
            if np.shape(patches_now)[-1] != want:  # e.g. --encoder frozen: its patches are not the JEPA's input
                log.warning("route: the JEPA predictor takes %d-d patches, this encoder gives %d; "
                            "routing from the place graph", want, np.shape(patches_now)[-1])
                lead, goal = OTHER_ENCODER, None
            if goal is not None:
                try:
                    return self._companion_route(located, here, patches_now, goal)
                except CompanionUnavailable as e:
                    log.info("route: falling back to the place graph: %s", e)
                    lead = AWAY
                except CompanionError as e:
                    log.warning("route: the companion refused: %s", e)
                    lead = REFUSED.format(why=str(e).split(";")[0])
        return self._graph_route(located, here, lead)

    @staticmethod
    def _goal_place(located: Response, places: list[Place]) -> Place | None:
        ev = located.evidence
        if ev is None:
            return None
        same = [p for p in places if p.frame == ev.frame and abs(p.t - ev.t) < 1e-3]
        return same[-1] if same else None

    def _waypoint(self, located: Response, here: Pose | None) -> tuple[float, float, float] | None:
        """(forward_m, right_m, radius_m) of the place graph route's next point, from the wearer."""
        if here is None or located.position is None:
            return None
        assert self.graph is not None, "places were found"
        route = self.graph.route((here.x, here.z), located.position)
        (x, z), radius = (route.waypoints[1], 0.0) if len(route.waypoints) > 2 else (located.position, STOP_M)
        return (*egocentric(here.x, here.z, here.yaw_deg, x, z), radius)

    def _companion_route(self, located: Response, here: Pose | None, patches_now: np.ndarray,
                         goal: Place) -> RouteResult:
        assert self.companion is not None, "only called with a companion"
        plan = self.companion.plan(self.latent(patches_now), self.latent(self.store.patches(goal.keyframe_id)),
                                   waypoint=self._waypoint(located, here))
        x, z, yaw = (here.x, here.z, here.yaw_deg) if here is not None else (0.0, 0.0, 0.0)
        points, end_yaw = plan_path(plan.actions, x, z, yaw)
        steps = spoken(path_steps(points, yaw, end_yaw)) or "stay where you are and look around"
        text = f"{PLANNED}: {steps}. {located.text} Ask again as you go for the next steps."
        return RouteResult("companion", text, plan, tuple(points))

    def _graph_route(self, located: Response, here: Pose | None, lead: str) -> RouteResult:
        if here is None or located.position is None or self.graph is None:
            why = "where you are" if here is None else "where it is"
            return RouteResult("none", f"{located.text} I can't give you steps without knowing {why}.", None, ())
        route = self.graph.route((here.x, here.z), located.position)
        end = route.waypoints[-1]
        left = math.dist(end, located.position)
        face = item_bearing(*end, *located.position) if left >= FACE_MIN_M else None
        steps = spoken(path_steps(list(route.waypoints), here.yaw_deg, face))
        if not steps:
            steps = "it should be right in front of you"
        tail = f" Then it is {distance_text(left)} ahead." if left >= 1.5 else ""
        return RouteResult("place-graph", f"{lead}: {steps}.{tail} {located.text}", None, route.waypoints)
