"""The config blocks of an account, and the fields an application registers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sms_delivery_exporter.api.durations import Duration


class ScheduleSettings(BaseModel):
    """When to poll a ref: soon after submission, then at growing intervals.

    A provider overrides the defaults by subclassing this model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Defaults measured in bench/economy.py: on realistic delivery latencies they
    # cost under half the calls of fixed 5 s polling, with a median latency
    # error of about 13%.
    first_poll: Duration = Field(2.0, description="delay from registration to the first poll")
    initial_interval: Duration = Field(3.0, gt=0, description="interval after the first poll")
    growth: float = Field(1.3, ge=1.0, le=10.0, description="factor between intervals")
    max_interval: Duration = Field(300.0, gt=0, description="cap on the interval")
    tracking_window: Duration = Field(
        86400.0, gt=0, description="age after which open messages become expired"
    )
    not_found_grace: Duration = Field(
        60.0, description="how long a 404 right after submission is retried before giving up"
    )
    read_receipt_window: Duration = Field(
        3600.0, description="how long a delivered RCS message is polled for its read receipt"
    )

    @model_validator(mode="after")
    def _intervals_fit(self) -> ScheduleSettings:
        if self.initial_interval > self.max_interval:
            raise ValueError("initial_interval must not exceed max_interval")
        return self

    def interval_after(self, polls: int) -> float:
        """Seconds to wait after the ``polls``-th poll (1-based)."""
        exponent = min(max(polls - 1, 0), 64)
        return float(min(self.initial_interval * self.growth**exponent, self.max_interval))


class ProviderSettings(BaseModel):
    """The options every account has; a provider's ``Settings`` adds its own.

    Credentials should be ``SecretStr`` so they never print.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(description="the plugin that serves this account")
    rate_limit: float = Field(5.0, gt=0, description="requests per second to the provider")
    burst: int = Field(1, ge=1, description="requests allowed at once after an idle spell")
    concurrency: int = Field(4, ge=1, le=1024, description="requests in flight at once")
    timeout: Duration = Field(10.0, gt=0, description="time limit of one API call")
    sample_rate: float = Field(
        1.0, gt=0, le=1, description="fraction of registered refs tracked (hash-based)"
    )
    probe_interval: Duration = Field(
        180.0, gt=0, description="how often the credentials are checked with the cheapest call"
    )
    delivery_objective: float = Field(
        0.95,
        gt=0,
        lt=1,
        description="SLO: share of final messages not undelivered, rejected or expired",
    )
    schedule: ScheduleSettings = ScheduleSettings()


class RefModel(BaseModel):
    """Base of a provider's ``Ref``: the fields an application sends to start tracking.

    Fields must be strings; together they identify one polled unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
