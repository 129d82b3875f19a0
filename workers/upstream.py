"""The only httpx user: one pooled AsyncClient per provider, explicit timeouts.

httpx's exception tree is mapped to our table here and nowhere else:
connect failures -> 502 upstream_unreachable, read/write/pool timeouts -> 504,
protocol errors (the upstream dropping the connection) -> 502.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from gateway.runtime import tracing
from gateway.contracts.config import ProviderConfig
from gateway.contracts.environment import environment
from gateway.contracts.errors import upstream_error, upstream_timeout, upstream_unreachable
from workers.http1 import Http1Transport
from workers.providers.base import LocalUpstream, UpstreamError, UpstreamRequest



def _proxy_configured() -> bool:
    """Proxies need httpx's own transport (ours speaks straight to the upstream)."""
    return environment().proxy_configured


@dataclass(slots=True)
class OpenResponse:
    """An upstream response whose body has not been read yet."""

    status: int
    headers: Mapping[str, str]
    chunks: AsyncIterator[bytes]

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([c async for c in self.chunks])


def _unreachable(provider: str, ex: Exception) -> UpstreamError:
    return UpstreamError.of(upstream_unreachable(f"{provider} upstream unreachable: {type(ex).__name__}: {ex}"))


def _timed_out(provider: str, ex: Exception) -> UpstreamError:
    return UpstreamError.of(upstream_timeout(f"{provider} upstream timed out: {type(ex).__name__}"))


def map_httpx_error(provider: str, ex: httpx.HTTPError) -> UpstreamError:
    """One httpx failure -> our status."""
    if isinstance(ex, (httpx.ConnectError, httpx.ConnectTimeout)):
        return _unreachable(provider, ex)
    if isinstance(ex, httpx.TimeoutException):
        return _timed_out(provider, ex)
    return UpstreamError.of(upstream_error(f"{provider} upstream connection failed: {type(ex).__name__}: {ex}"))


class Upstream:
    """HTTP (or in-process) access to one configured provider."""

    def __init__(
        self,
        name: str,
        config: ProviderConfig,
        local: LocalUpstream | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self._local = local
        self._client: httpx.AsyncClient | None = None
        if local is None:
            timeout = httpx.Timeout(
                connect=config.connect_timeout_s,
                read=config.timeout_s,
                write=config.timeout_s,
                pool=config.timeout_s,
            )
            limits = httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=min(config.max_connections, 256),
            )
            if transport is None and not _proxy_configured():
                transport = Http1Transport(max_connections=config.max_connections)
            self._client = httpx.AsyncClient(timeout=timeout, limits=limits, transport=transport)

    @asynccontextmanager
    async def open(self, request: UpstreamRequest) -> AsyncIterator[OpenResponse]:
        """Send `request`; the response body is read inside the context, closed after."""
        if self._local is not None:
            local = await self._local.respond(request)
            yield OpenResponse(local.status, local.headers, local.body)
            return
        assert self._client is not None
        http_request = self._client.build_request(
            request.method, request.url, headers=dict(request.headers), content=request.body
        )
        with tracing.upstream_call(request.method, request.url) as span:
            try:
                response = await self._client.send(http_request, stream=True)
            except httpx.HTTPError as ex:
                raise map_httpx_error(self.name, ex) from ex
            tracing.upstream_status(span, response.status_code)
            try:
                yield OpenResponse(response.status_code, response.headers, self._chunks(response))
            finally:
                await response.aclose()

    async def _chunks(self, response: httpx.Response) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.HTTPError as ex:
            raise map_httpx_error(self.name, ex) from ex

    async def aclose(self) -> None:
        """Close pooled connections."""
        if self._client is not None:
            await self._client.aclose()
