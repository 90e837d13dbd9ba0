"""The HTTP client webhook deliveries use: httpx over an httpcore pool whose connections dial only
addresses the SSRF guard checked (`ssrf.PinnedBackend`), resolved once per connection."""

from __future__ import annotations

import httpcore
import httpx

from ctrip_core.services.webhooks.ssrf import PinnedBackend, Resolver, system_resolve

#: httpcore's errors as the httpx ones callers catch (httpx's own mapping is private).
_ERRORS = [(httpcore.ConnectTimeout, httpx.ConnectTimeout), (httpcore.ReadTimeout, httpx.ReadTimeout),
           (httpcore.WriteTimeout, httpx.WriteTimeout), (httpcore.PoolTimeout, httpx.PoolTimeout),
           (httpcore.ConnectError, httpx.ConnectError), (httpcore.ReadError, httpx.ReadError),
           (httpcore.WriteError, httpx.WriteError), (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
           (httpcore.LocalProtocolError, httpx.LocalProtocolError), (httpcore.ProtocolError, httpx.ProtocolError),
           (httpcore.NetworkError, httpx.NetworkError), (httpcore.TimeoutException, httpx.TimeoutException)]


def _mapped(exc: Exception) -> Exception:
    for theirs, ours in _ERRORS:
        if isinstance(exc, theirs):
            return ours(str(exc))
    return exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    async def __aiter__(self):
        try:
            async for chunk in self._stream:
                yield chunk
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as exc:
            raise _mapped(exc) from None

    async def aclose(self) -> None:
        await self._stream.aclose()


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, *, allow_private: bool, resolve: Resolver = system_resolve,
                 max_connections: int = 200, max_keepalive_connections: int = 100):
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            network_backend=PinnedBackend(allow_private=allow_private, resolve=resolve))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        req = httpcore.Request(method=request.method,
                               url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                                                port=request.url.port, target=request.url.raw_path),
                               headers=request.headers.raw, content=request.stream, extensions=request.extensions)
        try:
            resp = await self._pool.handle_async_request(req)
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as exc:
            raise _mapped(exc) from None
        return httpx.Response(status_code=resp.status, headers=resp.headers, stream=_Body(resp.stream),
                              extensions=resp.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


def webhook_client(*, allow_private: bool, resolve: Resolver = system_resolve) -> httpx.AsyncClient:
    """The client to hand `delivery_sender.DeliverySender`: pinned connections, no environment proxies."""
    return httpx.AsyncClient(transport=PinnedTransport(allow_private=allow_private, resolve=resolve), trust_env=False)
