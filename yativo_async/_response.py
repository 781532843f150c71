"""`APIResponse`: what ``client.api_keys.with_raw_response.<method>()`` returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from ._errors import APIStatusError, ResponseDecodeError
from ._pipeline import Outcome
from ._salvage import salvage_secret
from ._sansio import mask_header_values, mask_secrets, masked_request_id, reported_failure

__all__ = ["APIResponse", "call_failure", "decode_failure"]

T = TypeVar("T")

_UNPARSED = object()


class APIResponse(Generic[T]):
    """The HTTP response of a call, with the model it decodes to.

    Attributes:
        status: the HTTP status (always 2xx: an error status raises as usual).
        headers: the response headers, names in lower case.
        request_id: the server's request id (``X-Request-Id`` and kin), or ``None``.
        elapsed: seconds from the call's start to its end (waits for budget and retries
            included).
        attempts: attempts made (1 unless retried).
        content: the body as bytes.

    ``parse()`` decodes the body into the model the plain method returns (once; later calls
    give the same object) and raises `ResponseDecodeError` when it does not fit, or
    `APIStatusError` with the server's message when it says it failed (``{"success":
    false, "message": ...}`` or ``{"status": "error", ...}`` with a 2xx).
    """

    __slots__ = ("_outcome", "_parsed", "_parser", "attempts", "content", "elapsed", "headers",
                 "request_id", "status")

    def __init__(self, outcome: Outcome, parser: Callable[[APIResponse[T]], T]) -> None:
        response = outcome.response
        self.status: int = response.status
        secrets = outcome.secrets  # worked out once (the provider's held secrets included)
        #: the response's headers, lower-case names (a plain dict)
        self.headers: Mapping[str, str] = mask_header_values(response.headers, secrets)
        self.content: bytes = response.body
        self.request_id: str | None = masked_request_id(response.headers, secrets)
        self.elapsed: float = outcome.elapsed
        self.attempts: int = outcome.attempts
        self._parser = parser
        self._outcome = outcome  # its secrets, worked out only for a failure to decode
        self._parsed: object = _UNPARSED

    def parse(self) -> T:
        """The model (or ``None`` for an operation that returns nothing)."""
        if self._parsed is _UNPARSED:
            failure: ResponseDecodeError | APIStatusError | None = None
            try:
                self._parsed = self._parser(self)
            except ResponseDecodeError as exc:
                failure = call_failure(exc, self._outcome, self.request_id)
            if failure is not None:
                # Raised outside the handler: the unmasked original is not kept as the
                # new error's __context__.
                raise failure
        return self._parsed  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"APIResponse(status={self.status}, request_id={self.request_id!r}, "
            f"attempts={self.attempts}, elapsed={self.elapsed:.3f})"
        )


def call_failure(
    exc: ResponseDecodeError, outcome: Outcome, request_id: str | None
) -> ResponseDecodeError | APIStatusError:
    """What a caller gets for a body of ``outcome`` that failed to decode: `decode_failure`,
    or, when the body says the call failed (a 2xx carrying doc 000's ``{"success": false,
    "message": ...}`` or ``{"status": "error", ...}``), the `APIStatusError` with the
    server's message that a revoke gets, not a missing field. Only read on a failure to
    decode (the common answer is not read twice), and never over a salvaged new secret.
    Raise it outside the ``except`` that caught ``exc``."""
    failure = decode_failure(exc, outcome, request_id)
    if failure.api_secret is not None:
        return failure
    response = outcome.response
    reported = reported_failure(response.status, response.headers, response.body,
                                secrets=outcome.secrets)
    return failure if reported is None else reported


def decode_failure(
    exc: ResponseDecodeError, outcome: Outcome, request_id: str | None
) -> ResponseDecodeError:
    """The error a caller gets for a body of ``outcome`` that failed to decode: masked,
    with the response's request id. Raise it outside the ``except`` that caught ``exc``
    (the unmasked original must not become its ``__context__``)."""
    secrets = outcome.secrets
    rid = None if request_id is None else mask_secrets(request_id, secrets)
    failure = _masked(exc, secrets).with_request_id(rid)
    salvaged = salvage_secret(outcome.response.body)
    if salvaged is not None:
        failure = failure.with_secret(*salvaged)
    return failure


def _masked(exc: ResponseDecodeError, secrets: tuple[str, ...]) -> ResponseDecodeError:
    """``exc`` without the values the call sent (a server may echo its token or code in a
    body that then fails to decode)."""
    message = mask_secrets(exc.message, secrets)
    body = None if exc.body is None else mask_secrets(exc.body, secrets)
    if message == exc.message and body == exc.body:
        return exc
    new = exc._clone()
    assert isinstance(new, ResponseDecodeError)
    new.message, new.body = message, body
    new.args = (message,)
    return new
