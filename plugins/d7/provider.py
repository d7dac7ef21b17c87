"""``GET /report/v1/message-log/{request_id}`` with a bearer token."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from pydantic import AnyHttpUrl, Field, SecretStr, StringConstraints

from sms_delivery_exporter.api import (
    MAX_MESSAGE_COST,
    MAX_RECIPIENTS,
    AuthFailed,
    BadResponse,
    HttpResponse,
    Observation,
    PaymentRequired,
    Probe,
    Provider,
    ProviderError,
    ProviderHttp,
    ProviderSettings,
    RefInvalid,
    RefNotFound,
    RefReport,
    Throttled,
    TransientError,
    amount_field,
    count_field,
    plausible,
    segments_field,
)
from sms_delivery_providers.d7.canary import D7Canary
from sms_delivery_providers.d7.push import D7Receiver
from sms_delivery_providers.d7.ref import D7Ref
from sms_delivery_providers.d7.statuses import REASONS, STATUSES

CHANNELS = ("sms", "mms", "whatsapp", "viber")


class D7Settings(ProviderSettings):
    """A D7 Networks account."""

    base_url: AnyHttpUrl = Field(AnyHttpUrl("https://api.d7networks.com"), description="API host")
    api_token: SecretStr = Field(description="the dashboard's API token, sent as a bearer token")
    currency: Annotated[str, StringConstraints(pattern=r"^([A-Z]{3}|unknown)$")] = Field(
        "unknown", description="ISO 4217 currency of sms_cost (D7 does not say)"
    )
    country_label: bool = Field(
        False, description="count final messages by destination country as well"
    )


class D7Provider(Provider[D7Settings, D7Ref]):
    """One request, one message per recipient; cost and parts per message."""

    name = "d7"
    Settings = D7Settings
    Ref = D7Ref
    reasons = frozenset(REASONS)
    channels = CHANNELS
    reports_segments = True
    reports_cost = True
    canary = D7Canary
    push = D7Receiver

    def __init__(self, settings: D7Settings, http: ProviderHttp) -> None:
        super().__init__(settings, http)
        self._base = str(settings.base_url).rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {settings.api_token.get_secret_value()}",
            "Accept": "application/json",
        }

    async def fetch_one(self, ref: D7Ref) -> RefReport:
        response = await self.http.request(
            "GET",
            f"{self._base}/report/v1/message-log/{quote(ref.request_id)}",
            headers=self._headers,
        )
        if response.status == 200:
            return parse_report(response.json(), self.settings)
        if response.status == 404:
            raise RefNotFound("D7 does not know this request id")
        if response.status == 422:
            raise RefInvalid("D7 says the request id is malformed (HTTP 422)")
        raise _error(response)

    async def probe(self) -> Probe:
        """``GET /messages/v1/balance``: the credentials, and the account's credit."""
        response = await self.http.request(
            "GET", f"{self._base}/messages/v1/balance", headers=self._headers
        )
        if response.status != 200:
            raise _error(response)
        body = response.json()
        balance = amount_field(body.get("balance")) if isinstance(body, dict) else None
        if balance is None:
            raise BadResponse("balance answer has no usable balance")
        return Probe(balance=balance, currency=self.settings.currency)


def _error(response: HttpResponse) -> ProviderError:
    """The error for an answer the endpoint gives no meaning of its own."""
    status = response.status
    if status in (401, 403):
        return AuthFailed(f"D7 refused the API token (HTTP {status})")
    if status == 402:
        return PaymentRequired("D7 answered 402: the account is out of credit")
    if status == 429:
        return Throttled("D7 answered 429", retry_after=response.retry_after())
    if status >= 500:
        return TransientError(f"D7 answered HTTP {status}")
    return BadResponse(f"unexpected HTTP {status} from D7")


def parse_report(body: Any, settings: D7Settings) -> RefReport:
    """A message-log answer; complete once every recipient has appeared."""
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise BadResponse("message-log answer has no messages list")
    total = count_field(body.get("total_recipients"))
    if total is None:
        raise BadResponse("total_recipients is not a number")
    plausible(total, MAX_RECIPIENTS, "total_recipients")
    channel = str(body.get("channel") or "sms").lower()
    observations = [_message(entry, channel, settings) for entry in body["messages"]]
    return RefReport(observations, complete=len(observations) >= total)


def _message(entry: Any, channel: str, settings: D7Settings) -> Observation:
    if not isinstance(entry, dict) or not isinstance(entry.get("msg_id"), str):
        raise BadResponse("a message has no msg_id")
    raw = entry.get("status")
    known = STATUSES.get(raw) if isinstance(raw, str) else None
    if known is None:
        raise BadResponse(f"unknown message status {str(raw)[:30]!r}")
    status, reason = known
    parts = entry.get("number_of_sms")
    cost = entry.get("sms_cost")
    country = entry.get("country")
    return Observation(
        key=entry["msg_id"],
        status=status,
        provider_status=raw,  # type: ignore[arg-type]
        reason=reason,
        channel=channel,
        segments=segments_field(parts, "number_of_sms"),
        cost=plausible(amount_field(cost), MAX_MESSAGE_COST, "sms_cost"),
        currency=settings.currency,
        # With country counting on, every final message counts: no country is "other".
        country=(country if isinstance(country, str) else "") if settings.country_label else None,
    )
