"""A scenario: how simulated messages behave and how a simulated API misbehaves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Scenario(BaseModel):
    """How simulated messages behave and how the simulated API misbehaves."""

    model_config = ConfigDict(extra="forbid")

    delivered: float = Field(0.90, ge=0, description="share of messages delivered")
    undelivered: float = Field(0.06, ge=0, description="share the carrier fails")
    rejected: float = Field(0.04, ge=0, description="share the provider refuses")
    stuck: float = Field(0.0, ge=0, description="share that never reaches a final status")
    reasons: dict[str, float] = Field(
        default_factory=lambda: {
            "unreachable": 3.0,
            "number_blocked": 2.0,
            "unknown_subscriber": 1.0,
        },
        description="weights of failure reasons (the plugin's canonical names)",
    )
    rejected_reasons: dict[str, float] | None = Field(
        None, description="weights of reasons for rejected messages, when not those of `reasons`"
    )
    queue_seconds: float = Field(0.3, ge=0, description="time from acceptance to sent")
    latency_median: float = Field(4.0, gt=0, description="median seconds from acceptance to final")
    latency_sigma: float = Field(0.6, ge=0, description="log-normal shape of that latency")
    latency_max: float = Field(3600.0, gt=0, description="latencies are capped here")
    rcs_share: float = Field(0.0, ge=0, le=1, description="share of messages sent as RCS")
    read_share: float = Field(0.0, ge=0, le=1, description="share of delivered RCS that is read")
    read_delay: float = Field(5.0, ge=0, description="median seconds from delivery to read")
    segments: dict[int, float] = Field(default_factory=lambda: {1: 0.8, 2: 0.15, 3: 0.05})
    throttle_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 429")
    retry_after: float = Field(1.0, ge=0, description="Retry-After of those 429s")
    blocked_rate: float = Field(
        0.0, ge=0, le=1, description="share answered 'account blocked' where the API has it"
    )
    error_rate: float = Field(0.0, ge=0, le=1, description="share answered with a 5xx")
    malformed_rate: float = Field(0.0, ge=0, le=1, description="share answered with broken JSON")
    slow_rate: float = Field(0.0, ge=0, le=1, description="share answered only after slow_seconds")
    slow_seconds: float = Field(30.0, ge=0)
    absurd_rate: float = Field(
        0.0, ge=0, le=1, description="share of answers carrying impossible numbers (2^70 parts)"
    )
    no_country_share: float = Field(
        0.0, ge=0, le=1, description="share of messages whose country the API leaves null"
    )
    push_delay: float = Field(0.1, ge=0, description="seconds from a status change to its webhook")
    push_jitter: float = Field(
        0.3, ge=0, description="up to this much more at random: webhooks arrive out of order"
    )
    push_duplicate_rate: float = Field(
        0.0, ge=0, le=1, description="share of webhook events posted twice"
    )
    push_loss_rate: float = Field(
        0.0, ge=0, le=1, description="share of webhook events lost (a retrying provider: late)"
    )
    push_retry_after: float = Field(
        2.0, ge=0, description="how much later a retrying provider posts a lost event"
    )
    answer_delay: float = Field(
        0.0,
        ge=0,
        description="seconds every answer takes; the fault is drawn after it, so calls on "
        "the wire when the scenario changes get the new scenario's answers",
    )
    seed: int | None = None

    @model_validator(mode="after")
    def _has_outcomes(self) -> Scenario:
        if self.delivered + self.undelivered + self.rejected + self.stuck <= 0:
            raise ValueError("at least one outcome share must be positive")
        if (self.undelivered or self.rejected) and not self.reasons:
            raise ValueError("failures need at least one reason")
        return self
