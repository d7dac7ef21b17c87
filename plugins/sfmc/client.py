"""Authenticated GETs to SFMC REST: bearer (or legacy ``?access_token=``), a retry on 401."""

from __future__ import annotations

from typing import Any

from sms_delivery_exporter.api import AuthFailed, HttpResponse, ProviderHttp
from sms_delivery_providers.sfmc.auth import Token, TokenSource, parse_v2_token
from sms_delivery_providers.sfmc.settings import SfmcSettings


class SfmcClient:
    """GET a REST path with the account's token."""

    def __init__(
        self,
        http: ProviderHttp,
        tokens: TokenSource,
        *,
        rest_url: str | None = None,
        token_in_query: bool = False,
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._rest_url = rest_url.rstrip("/") if rest_url else None
        self._token_in_query = token_in_query

    async def check_credentials(self) -> None:
        """Ask the token endpoint for a new token: the cheapest authenticated call of SFMC."""
        await self._tokens.refresh()

    async def get(self, path: str) -> HttpResponse:
        """The answer to ``GET {rest}{path}``; a 401 renews the token and retries once."""
        return await self.request("GET", path)

    async def request(self, method: str, path: str, json_body: Any = None) -> HttpResponse:
        """The answer to ``{method} {rest}{path}``; a 401 renews the token and retries once."""
        for attempt in range(2):
            token = await self._tokens.get()
            response = await self._send(token, method, path, json_body)
            if response.status != 401:
                return response
            self._tokens.invalidate(token)
            if attempt == 1:
                break
        raise AuthFailed("SFMC refused a freshly issued token (HTTP 401)")

    async def _send(
        self, token: Token, method: str, path: str, json_body: Any = None
    ) -> HttpResponse:
        base = self._rest_url or token.rest_url
        if base is None:
            raise AuthFailed("the token answer named no rest_instance_url and rest_url is not set")
        if self._token_in_query:
            # The URL now holds a secret: ProviderHttp never logs URLs or puts them in errors.
            return await self._http.request(
                method,
                base + path,
                params={"access_token": token.value},
                headers=_ACCEPT,
                json_body=json_body,
            )
        return await self._http.request(
            method,
            base + path,
            headers={**_ACCEPT, "Authorization": f"Bearer {token.value}"},
            json_body=json_body,
        )


_ACCEPT = {"Accept": "application/json"}


def v2_client(http: ProviderHttp, settings: SfmcSettings) -> SfmcClient:
    """A client of the account's REST API with OAuth2 tokens (v2), as the transactional
    provider, its canary and its not-sent feed each use."""
    url = settings.token_url()
    assert url is not None  # the settings validator guarantees it
    tokens = TokenSource(http, url=url, body=settings.token_body(), parse=parse_v2_token)
    return SfmcClient(http, tokens, rest_url=str(settings.rest_url) if settings.rest_url else None)
