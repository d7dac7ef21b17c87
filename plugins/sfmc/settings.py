"""Account settings every SFMC account has: where to get tokens and with which credentials."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, StringConstraints, model_validator

from sms_delivery_exporter.api import Duration, ProviderSettings, ScheduleSettings

Subdomain = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,64}$", to_lower=True)]


class SfmcSchedule(ScheduleSettings):
    """SFMC is rate-limited without published numbers: poll it less than others."""

    first_poll: Duration = Field(5.0, description="delay from registration to the first poll")
    initial_interval: Duration = Field(10.0, gt=0, description="interval after the first poll")
    max_interval: Duration = Field(900.0, gt=0, description="cap on the interval")


class SfmcSettings(ProviderSettings):
    """OAuth2 client credentials of an installed package."""

    schedule: SfmcSchedule = Field(default_factory=SfmcSchedule)
    rate_limit: float = Field(2.0, gt=0, description="requests per second to SFMC")
    subdomain: Subdomain | None = Field(
        None,
        description="tenant subdomain: tokens come from {subdomain}.auth.marketingcloudapis.com",
    )
    auth_url: AnyHttpUrl | None = Field(
        None, description="token endpoint, when not derived from subdomain (tests, private stacks)"
    )
    client_id: str = Field(min_length=1, description="installed package client id")
    client_secret: SecretStr = Field(description="installed package client secret")
    account_id: str | None = Field(None, description="MID of the business unit, if not the default")
    scope: str | None = Field(None, description="space-separated scopes to request")
    rest_url: AnyHttpUrl | None = Field(
        None, description="REST base URL; by default the rest_instance_url of the token answer"
    )

    @model_validator(mode="after")
    def _token_source(self) -> SfmcSettings:
        if self.token_url() is None:
            raise ValueError("set subdomain (or auth_url) so that tokens can be requested")
        return self

    def token_url(self) -> str | None:
        """Where tokens come from; None when the settings do not say."""
        if self.auth_url is not None:
            return str(self.auth_url)
        if self.subdomain is not None:
            return f"https://{self.subdomain}.auth.marketingcloudapis.com/v2/token"
        return None

    def token_body(self) -> dict[str, str]:
        body = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.account_id:
            body["account_id"] = self.account_id
        if self.scope:
            body["scope"] = self.scope
        return body
