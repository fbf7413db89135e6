"""The companion's versioned HTTP schemas (pydantic): health, pairing, plan request and response.

The "schema" field of a plan request names its version; a request of another version is refused
with a 422 naming the field, so that an old device and a new companion fail loudly, never by
guessing. Unknown fields are refused too (a typo in a constraint must not be silently ignored).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.protocol import HEALTH_SCHEMA, PLAN_REQUEST_SCHEMA, PLAN_RESPONSE_SCHEMA  # noqa: F401 (re-exported)
MAX_LATENT_DIM = 4096  # far above any predictor here; bounds the work one request can ask for
MAX_HORIZON = 16

Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Health(_Strict):
    schema_: str = Field(HEALTH_SCHEMA, alias="schema")
    status: Literal["ok"] = "ok"
    checkpoint: str
    device: str

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)


class PairRequest(_Strict):
    code: str = Field(min_length=1, max_length=64, description="the one-time code printed by `ami companion serve`")
    device_name: str = Field(min_length=1, max_length=64, description="a name for the device, shown in logs")


class PairResponse(_Strict):
    device_id: str
    secret: str = Field(description="urlsafe base64 of 32 random bytes: the HMAC-SHA256 key of this device")
    expires_at: float = Field(description="unix seconds after which the secret is refused; pair again then")


# A latent is a normalised embedding's projection: values far beyond this are not a keyframe's, and
# their squares overflow (1e308 would plan to energies of inf and answer null).
LatentValue = Annotated[float, Field(allow_inf_nan=False, ge=-1e4, le=1e4)]


class LatentState(_Strict):
    latent: list[LatentValue] = Field(min_length=1, max_length=MAX_LATENT_DIM,
                                      description="the predictor's latent of a keyframe (worldmodel.jepa encode)")


class Constraints(_Strict):
    """The box every action of the plan stays in. forward_m is in [min_forward_m, max_forward_m],
    right_m in [-max_right_m, max_right_m], turn_deg in [-max_turn_deg, max_turn_deg]."""

    max_forward_m: Finite = Field(0.5, gt=0.0, le=2.0)
    max_turn_deg: Finite = Field(45.0, gt=0.0, le=180.0)
    # Extensions beyond the shared contract, with defaults that keep its meaning: a wearer walks
    # forward and turns; side steps are off by default (the predictor rarely saw them).
    max_right_m: Finite = Field(0.0, ge=0.0, le=2.0)
    min_forward_m: Finite = Field(0.0, ge=-2.0, le=2.0)

    @model_validator(mode="after")
    def _forward_range(self) -> Constraints:
        if self.min_forward_m > self.max_forward_m:
            raise ValueError(f"constraints.min_forward_m={self.min_forward_m} is above "
                             f"max_forward_m={self.max_forward_m}")
        return self


class WaypointSpec(_Strict):
    """An extension beyond the shared contract: a metric target in the start view's frame (where the
    device's place graph says to head next). Each step of the plan then also pays `weight` per
    squared metre it ends beyond `radius_m` of it. Absent: the plan is the latent energy alone."""

    forward_m: Finite = Field(ge=-100.0, le=100.0, description="metres ahead of the start pose")
    right_m: Finite = Field(ge=-100.0, le=100.0, description="metres to the right of the start pose")
    radius_m: Finite = Field(0.0, ge=0.0, le=10.0, description="ending within this distance costs nothing")
    weight: Finite = Field(ge=0.0, le=100.0, description="energy per squared metre beyond radius_m")


class PlanRequest(_Strict):
    schema_: Literal["ami-plan-request/1"] = Field(alias="schema")
    start: LatentState
    goal: LatentState
    horizon: int = Field(5, ge=1, le=MAX_HORIZON)
    planner: Literal["cem", "gradient"] = "cem"
    constraints: Constraints = Constraints()
    samples: int = Field(300, ge=2, le=2000, description="CEM samples per iteration; gradient: parallel restarts")
    iterations: int = Field(30, ge=1, le=200, description="CEM iterations; gradient: Adam steps")
    seed: int = Field(0, ge=0, le=2**63 - 1, description="seed of the planner's random draws (same seed, same plan)")
    waypoint: WaypointSpec | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _same_size(self) -> PlanRequest:
        if len(self.start.latent) != len(self.goal.latent):
            raise ValueError(f"start.latent has {len(self.start.latent)} values but goal.latent has "
                             f"{len(self.goal.latent)}; both must be the predictor's latent size")
        return self


class PlanResponse(_Strict):
    schema_: str = Field(PLAN_RESPONSE_SCHEMA, alias="schema")
    actions: list[list[float]] = Field(description="horizon rows of [forward_m, right_m, turn_deg]")
    energies: list[float] = Field(description="predicted energy per step: the mean squared latent distance to the "
                                  "goal, plus the waypoint term when the request gave a waypoint")
    compute_ms: float
    device: str = Field(description='"cpu" or "cuda:<GPU name>"')
    planner: str
    checkpoint: str
    batch_size: int = Field(description="how many requests shared this plan's rollout batch")
    iterations: int = Field(description="search iterations run: fewer than asked when the time budget ended the "
                            "search, which then returns the best plan found")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)
