"""yativo_async: an asyncio-first SDK for the Yativo crypto API (API keys and auth).

Everything users need is importable from here; the modules behind it are private.
"""

from ._aiohttp import AiohttpTransport
from ._auth import (
    BearerToken,
    ExchangeTokenProvider,
    StaticTokenProvider,
    TokenProvider,
    TokenStats,
    TwoFactor,
)
from ._client import (
    DEFAULT_BASE_URL,
    ApiKeysResource,
    AuthResource,
    ClientOptions,
    ClientStats,
    YativoClient,
)
from ._config import DEFAULT_RATE_LIMITS, RateLimit, RetryPolicy, Timeouts
from ._converter import JSONValue, to_jsonable
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RedisUnavailableError,
    ResponseDecodeError,
    ServerError,
    TokenUnavailableError,
    YativoError,
)
from ._httpx import HttpxTransport
from ._models import (
    COARSE_PERMISSIONS,
    SCOPED_PERMISSIONS,
    AccessToken,
    AnyPermission,
    ApiKey,
    CreatedApiKey,
    CustomPermission,
    KeyRateLimit,
    Permission,
    PermissionName,
    RotatedApiKey,
    Scope,
    ScopeName,
)
from ._ratelimit import FleetStats, SlidingWindowLimiter, WindowStatus
from ._redis import RedisRateLimiter, RedisTokenCache
from ._resources import ApiKeysWithRawResponse, AuthWithRawResponse
from ._response import APIResponse
from ._secret import Secret
from ._transport import MockTransport, Request, Response, Transport
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIResponse",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "AiohttpTransport",
    "AnyPermission",
    "ApiKey",
    "ApiKeysResource",
    "ApiKeysWithRawResponse",
    "AuthResource",
    "AuthWithRawResponse",
    "AuthenticationError",
    "BadRequestError",
    "BearerToken",
    "COARSE_PERMISSIONS",
    "ClientClosedError",
    "ClientOptions",
    "ClientStats",
    "ConflictError",
    "CreatedApiKey",
    "CustomPermission",
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMITS",
    "ExchangeTokenProvider",
    "FleetStats",
    "HttpxTransport",
    "JSONValue",
    "KeyRateLimit",
    "MockTransport",
    "NotFoundError",
    "OutcomeUnknownError",
    "Permission",
    "PermissionDeniedError",
    "PermissionName",
    "RateLimit",
    "RateLimitError",
    "RedisRateLimiter",
    "RedisTokenCache",
    "RedisUnavailableError",
    "Request",
    "Response",
    "ResponseDecodeError",
    "RetryPolicy",
    "RotatedApiKey",
    "SCOPED_PERMISSIONS",
    "Scope",
    "ScopeName",
    "Secret",
    "ServerError",
    "SlidingWindowLimiter",
    "StaticTokenProvider",
    "Timeouts",
    "TokenProvider",
    "TokenStats",
    "TokenUnavailableError",
    "Transport",
    "TwoFactor",
    "WindowStatus",
    "YativoClient",
    "YativoError",
    "__version__",
    "to_jsonable",
]
