"""`HttpxTransport` (extra ``httpx``): the same seam over ``httpx.AsyncClient``."""

from __future__ import annotations

from typing import Any

from ._errors import APIConnectionError, APITimeoutError
from ._transport import Request, Response

__all__ = ["HttpxTransport"]


class HttpxTransport:
    """HTTP over one ``httpx.AsyncClient`` (created lazily; a client passed in is not closed)."""

    def __init__(self, *, client: Any = None, limit: int = 100) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "HttpxTransport needs httpx: pip install 'yativo-async[httpx]'"
            ) from exc
        self._httpx = httpx
        self._client: httpx.AsyncClient | None = client
        self._owns_client = client is None
        self._limit = limit
        self._closed = False

    def _get_client(self) -> Any:
        if self._closed:
            raise RuntimeError("HttpxTransport is closed")
        if self._client is None:
            self._client = self._httpx.AsyncClient(
                limits=self._httpx.Limits(max_connections=self._limit),
                follow_redirects=False,
            )
        return self._client

    async def send(self, request: Request) -> Response:
        httpx = self._httpx
        client = self._get_client()
        timeout = request.timeout if request.timeout is not None else 30.0
        try:
            resp = await client.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body,
                timeout=timeout,
            )
        except httpx.ConnectTimeout as exc:
            raise APITimeoutError("timed out connecting", maybe_sent=False) from exc
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"{request.method} request timed out after {timeout} s"
            ) from exc
        except httpx.ConnectError as exc:
            raise APIConnectionError(f"cannot connect: {exc}", maybe_sent=False) from exc
        except (httpx.TransportError, OSError) as exc:
            raise APIConnectionError(
                f"{request.method} failed: {exc.__class__.__name__}: {str(exc)[:200]}"
            ) from exc
        headers: dict[str, str] = {}
        for name, value in resp.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return Response(status=resp.status_code, headers=headers, body=resp.content)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None and self._owns_client:
            await self._client.aclose()
        self._client = None
