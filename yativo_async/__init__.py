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
from ._client import DEFAULT_BASE_URL, ApiKeysResource, AuthResource, ClientStats, YativoClient
from ._config import DEFAULT_RATE_LIMITS, RateLimit, RetryPolicy, Timeouts
from ._converter import to_jsonable
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
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    TokenUnavailableError,
    YativoError,
)
from ._httpx import HttpxTransport
from ._models import (
    COARSE_PERMISSIONS,
    SCOPED_PERMISSIONS,
    AccessToken,
    ApiKey,
    CreatedApiKey,
    KeyRateLimit,
    Permission,
    RotatedApiKey,
    Scope,
)
from ._ratelimit import SlidingWindowLimiter, WindowStatus
from ._redis import RedisRateLimiter, RedisTokenCache
from ._secret import Secret
from ._transport import MockTransport, Request, Response, Transport
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "AiohttpTransport",
    "ApiKey",
    "ApiKeysResource",
    "AuthResource",
    "AuthenticationError",
    "BadRequestError",
    "BearerToken",
    "COARSE_PERMISSIONS",
    "ClientClosedError",
    "ClientStats",
    "ConflictError",
    "CreatedApiKey",
    "DEFAULT_BASE_URL",
    "DEFAULT_RATE_LIMITS",
    "ExchangeTokenProvider",
    "HttpxTransport",
    "KeyRateLimit",
    "MockTransport",
    "NotFoundError",
    "OutcomeUnknownError",
    "Permission",
    "PermissionDeniedError",
    "RateLimit",
    "RateLimitError",
    "RedisRateLimiter",
    "RedisTokenCache",
    "Request",
    "Response",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "RotatedApiKey",
    "SCOPED_PERMISSIONS",
    "Scope",
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
