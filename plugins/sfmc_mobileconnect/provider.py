"""``GET /sms/v1/messageContact/{messageId}/deliveries/{tokenId}``: one send, many recipients."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from sms_delivery_exporter.api import (
    MAX_RECIPIENTS,
    BadResponse,
    HttpResponse,
    NumberHasher,
    Observation,
    Probe,
    Provider,
    ProviderHttp,
    RefInvalid,
    RefModel,
    RefNotFound,
    RefReport,
    Status,
    TransientError,
    count_field,
    plausible,
)
from sms_delivery_providers.sfmc.auth import (
    TokenSource,
    call_error,
    parse_legacy_token,
    parse_v2_token,
)
from sms_delivery_providers.sfmc.client import SfmcClient
from sms_delivery_providers.sfmc.settings import SfmcSettings
from sms_delivery_providers.sfmc.standard_codes import REASONS, classify, is_provisional
from sms_delivery_providers.sfmc.timestamps import parse_cst

LEGACY_TOKEN_URL = "https://auth.exacttargetapis.com/v1/requestToken"  # noqa: S105 - a URL
LEGACY_REST_URL = "https://www.exacttargetapis.com"
JOB_DONE = frozenset({"Finished", "Error"})
JOB_STATES = frozenset({"New", "Queuing", "Started"}) | JOB_DONE
_ID = r"^[A-Za-z0-9_\-=]+$"


class MobileConnectSettings(SfmcSettings):
    """A MobileConnect account, on the current API or the legacy ExactTarget host."""

    legacy: bool = Field(
        False, description="ExactTarget host of seed 003: legacy token endpoint, ?access_token="
    )
    recipient_key: SecretStr | None = Field(
        None, description="key of the recipient hash; by default derived from client_secret"
    )

    def token_url(self) -> str | None:
        if self.legacy and self.auth_url is None:
            return LEGACY_TOKEN_URL
        return super().token_url()

    def token_body(self) -> dict[str, str]:
        if self.legacy:
            return {
                "clientId": self.client_id,
                "clientSecret": self.client_secret.get_secret_value(),
            }
        return super().token_body()

    def rest_base(self) -> str | None:
        if self.rest_url is not None:
            return str(self.rest_url)
        return LEGACY_REST_URL if self.legacy else None


class MobileConnectRef(RefModel):
    """A MessageContact send: the message definition's API key and the send's token id."""

    message_id: str = Field(min_length=1, max_length=100, pattern=_ID)
    token_id: str = Field(min_length=1, max_length=200, pattern=_ID)


class MobileConnectProvider(Provider[MobileConnectSettings, MobileConnectRef]):
    """Deliveries of a send; per recipient, the highest standard status code."""

    name = "sfmc_mobileconnect"
    Settings = MobileConnectSettings
    Ref = MobileConnectRef
    reasons = frozenset(REASONS)

    def __init__(self, settings: MobileConnectSettings, http: ProviderHttp) -> None:
        super().__init__(settings, http)
        url = settings.token_url()
        assert url is not None  # the settings validator guarantees it
        parse = parse_legacy_token if settings.legacy else parse_v2_token
        tokens = TokenSource(http, url=url, body=settings.token_body(), parse=parse)
        self._client = SfmcClient(
            http, tokens, rest_url=settings.rest_base(), token_in_query=settings.legacy
        )
        key = settings.recipient_key or settings.client_secret
        self._hasher = NumberHasher(b"recipient:" + key.get_secret_value().encode())

    async def probe(self) -> Probe:
        """A new token from the token endpoint: the credentials still work."""
        await self._client.check_credentials()
        return Probe()

    async def fetch_one(self, ref: MobileConnectRef) -> RefReport:
        message_id, token_id = quote(ref.message_id, safe=""), quote(ref.token_id, safe="")
        path = f"/sms/v1/messageContact/{message_id}/deliveries/{token_id}"
        response = await self._client.get(path)
        status = response.status
        if status == 200:
            return parse_deliveries(response.json(), self._hasher)
        if status == 400:
            raise bad_request(response)
        if status == 404:
            raise RefNotFound("MobileConnect does not know this send (HTTP 404)")
        raise call_error(response)


_INVALID = (
    ("is not valid for messageid", "the token id belongs to another message"),
    ("is not valid for this client", "the token id belongs to another client"),
    ("token id", "the token id is not valid"),
    ("message id", "the message id is not valid"),
)


def bad_request(response: HttpResponse) -> RefInvalid | TransientError:
    """The documented 400s: permanent for the ref, except the 'unexpected error' one.

    The API's texts quote the ids; ours do not, since errors are logged.
    """
    try:
        body = response.json()
    except BadResponse:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    text = " ".join(str(e) for e in errors).lower() if isinstance(errors, list) else ""
    if "unexpected error" in text:
        return TransientError("SFMC reported an unexpected error (HTTP 400)")
    for needle, meaning in _INVALID:
        if needle in text:
            return RefInvalid(f"SFMC refused the ref: {meaning}")
    return RefInvalid("SFMC refused the ref (HTTP 400)")


def parse_deliveries(body: Any, hasher: NumberHasher) -> RefReport:
    """A deliveries answer: one observation per recipient, keyed by the hash of its number."""
    if not isinstance(body, dict):
        raise BadResponse("deliveries answer is not a JSON object")
    job = body.get("status")
    if not isinstance(job, str) or job not in JOB_STATES:
        raise BadResponse(f"unknown send status {str(job)[:30]!r}")
    count = count_field(body.get("count"))
    if count is None:
        raise BadResponse("count is not a number of recipients")
    plausible(count, MAX_RECIPIENTS, "count")
    created = parse_cst(body.get("createDate", body.get("createdDate")), "createDate")
    tracking = body.get("tracking") or []
    if not isinstance(tracking, list):
        raise BadResponse("tracking is not a list")
    highest: dict[str, int] = {}
    for entry in tracking:
        if not isinstance(entry, dict) or not isinstance(entry.get("mobileNumber"), str):
            raise BadResponse("a tracking entry has no mobileNumber")
        try:
            code = int(entry.get("standardStatusCode"))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
            raise BadResponse("a tracking entry has no numeric standardStatusCode") from None
        key = hasher(entry["mobileNumber"])
        highest[key] = max(code, highest.get(key, code))
    done = job in JOB_DONE
    observations = [_observe(key, code, created, done) for key, code in highest.items()]
    if job == "Error":
        # The job failed; recipients it never reported will not be reported.
        observations.extend(
            Observation(
                key=f"unreported-{n}",
                status=Status.REJECTED,
                provider_status="Error",
                reason="job_error",
                accepted_at=created,
            )
            for n in range(len(highest), count)
        )
    return RefReport(observations, complete=len(observations) >= count and (done or count > 0))


def _observe(key: str, code: int, created: float | None, job_done: bool) -> Observation:
    status, reason = classify(code)
    if not job_done and is_provisional(code):
        # A running job may still retry this recipient past the failure.
        status, reason = (Status.QUEUED if code < 2000 else Status.SENT), None
    return Observation(
        key=key,
        status=status,
        provider_status=str(code),
        code=str(code),
        reason=reason,
        accepted_at=created,
    )
