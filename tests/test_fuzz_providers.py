"""Every built-in provider fed arbitrary answers over loopback: only the plugin API's typed
errors or a well-formed report come out, never another exception (hypothesis)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sms_delivery_exporter.api import Observation, ProviderError, RefReport, Status
from tests.helpers import providers

Serve = Callable[..., Any]
Build = Callable[..., Any]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))

REFS: dict[str, dict[str, str]] = {
    "namirial": {"id": "00000000-0000-4000-8000-000000000001"},
    "d7": {"request_id": "00000000-0000-4000-8000-000000000001"},
    "sfmc_transactional": {"message_key": "key-1"},
    "sfmc_mobileconnect": {"message_id": "MTA6MTE4OjA", "token_id": "abc123"},
}
SECRETS: dict[str, dict[str, Any]] = {
    "namirial": {"api_key": "fuzz-key"},
    "d7": {"api_token": "fuzz-token", "country_label": True, "currency": "EUR"},
    "sfmc_transactional": {"client_id": "id", "client_secret": "fuzz-secret"},
    "sfmc_mobileconnect": {"client_id": "id", "client_secret": "fuzz-secret"},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "DELIVERED",
            "READ",
            "SMSNotSent",
            "Finished",
            "Error",
            "4000",
            "4500",
            "delivered",
            "not_reachable",
            "2026-01-01T00:00:00Z",
            "0001-01-01T00:00",
            "+39 333 1234567",
            "SMSSent",
            "events.SMSQueued",
        ]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "message",
                    "status",
                    "provider",
                    "code",
                    "sms",
                    "segments",
                    "channel",
                    "statusChangedAt",
                    "providerAcceptanceAt",
                    "messages",
                    "msg_id",
                    "total_recipients",
                    "number_of_sms",
                    "sms_cost",
                    "country",
                    "count",
                    "tracking",
                    "mobileNumber",
                    "standardStatusCode",
                    "createDate",
                    "eventCategoryType",
                    "info",
                    "statusCode",
                    "statusMessage",
                    "timestamp",
                    "errors",
                    "errorcode",
                    "access_token",
                    "expires_in",
                    "rest_instance_url",
                    "x",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=25,
)


TEMPLATES: dict[str, Any] = {
    "namirial": {
        "message": {
            "status": "DELIVERED",
            "channel": "SMS",
            "provider": {"code": "0", "message": "ok", "status": "x"},
            "sms": {"segments": 1},
            "providerAcceptanceAt": "2026-01-01T00:00:00Z",
            "statusChangedAt": "2026-01-01T00:00:05Z",
        }
    },
    "d7": {
        "channel": "sms",
        "total_recipients": 1,
        "messages": [
            {
                "msg_id": "a",
                "status": "delivered",
                "number_of_sms": 1,
                "sms_cost": 0.05,
                "country": "IT",
            }
        ],
    },
    "sfmc_transactional": {
        "eventCategoryType": "TransactionalSendEvents.SMSNotSent",
        "timestamp": "2026-01-01T00:00:00",
        "info": {"statusCode": 1, "statusMessage": "Unsubscribed"},
    },
    "sfmc_mobileconnect": {
        "status": "Finished",
        "count": 1,
        "createDate": "2026-01-01T00:00:00.000",
        "tracking": [{"mobileNumber": "15555555510", "standardStatusCode": "4000"}],
    },
    "errors": {"errors": ["Token ID is not valid"], "errorcode": 50200},
    "token": {"access_token": "t", "expires_in": 3600, "accessToken": "t", "expiresIn": 60},
}


def near(value: Any) -> st.SearchStrategy[Any]:
    """Values shaped like ``value``, each part kept, dropped or replaced by anything."""
    if isinstance(value, dict):
        return st.fixed_dictionaries({}, optional={key: near(v) for key, v in value.items()})
    if isinstance(value, list):
        return st.lists(near(value[0]), max_size=3) | json_values
    return st.just(value) | json_values


def encoded(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def bodies(template: str) -> st.SearchStrategy[bytes]:
    return (
        near(TEMPLATES[template]).map(encoded)
        | near(TEMPLATES["errors"]).map(encoded)
        | json_values.map(encoded)
        | st.binary(max_size=200)
        | st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n)
    )


statuses = st.sampled_from([200, 200, 200, 400, 401, 402, 403, 404, 422, 429, 500, 503, 302, 418])


@dataclass
class Answer:
    """What the fuzz API answers next, for status calls and (``token``) for token calls."""

    status: int = 200
    body: bytes = b"{}"
    token_status: int = 200
    token_body: bytes = field(
        default_factory=lambda: encoded(
            {"access_token": "t", "expires_in": 3600, "rest_instance_url": "http://x"}
        )
    )


def fuzz_api(answer: Answer) -> web.Application:
    async def status_call(request: web.Request) -> web.Response:
        return web.Response(status=answer.status, body=answer.body, headers={"Retry-After": "x"})

    async def token_call(request: web.Request) -> web.Response:
        return web.Response(status=answer.token_status, body=answer.token_body)

    app = web.Application()
    app.router.add_post("/{tail:.*}", token_call)
    app.router.add_get("/{tail:.*}", status_call)
    return app


def check_report(report: Any) -> None:
    """A report the host can use: observations of the declared types, finite numbers."""
    assert isinstance(report, RefReport)
    assert isinstance(report.complete, bool)
    for observation in report.observations:
        assert isinstance(observation, Observation)
        assert isinstance(observation.key, str)
        assert isinstance(observation.status, Status)
        assert isinstance(observation.provider_status, str)
        assert isinstance(observation.channel, str)
        for number in (observation.accepted_at, observation.changed_at, observation.cost):
            assert number is None or (isinstance(number, float) and math.isfinite(number))
        assert observation.segments is None or type(observation.segments) is int
        for text in (observation.code, observation.reason, observation.country):
            assert text is None or isinstance(text, str)


@pytest.mark.parametrize("name", sorted(REFS))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # make test: the same examples each run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), status=statuses, token_status=statuses, fuzz_token=st.booleans())
async def test_only_typed_errors_or_a_report(
    serve: Serve,
    build_provider: Build,
    name: str,
    data: st.DataObject,
    status: int,
    token_status: int,
    fuzz_token: bool,
) -> None:
    answer = Answer(status=status, body=data.draw(bodies(name), label="body"))
    if fuzz_token:
        answer.token_status = token_status
        answer.token_body = data.draw(bodies("token"), label="token body")
    url = await serve(fuzz_api(answer))
    provider_class = providers()[name]
    options: dict[str, Any] = {**SECRETS[name], "timeout": "2s"}
    if name.startswith("sfmc"):
        options |= {"auth_url": f"{url}/v2/token", "rest_url": url}
    else:
        options["base_url"] = url
    provider = build_provider(provider_class, **options)
    ref = provider_class.Ref.model_validate(REFS[name])
    try:
        outcomes = await provider.fetch([ref])
    except ProviderError:
        return
    finally:
        await provider.close()
    assert len(outcomes) == 1
    if isinstance(outcomes[0], ProviderError):
        return
    check_report(outcomes[0])
