"""`Secret`: a string that never shows itself by accident.

Rule: every API secret, bearer token and 2FA code the SDK holds is wrapped in a `Secret`
as soon as it enters (constructor argument or decoded response) and unwrapped only at the
last moment, when a request body or header is built.
"""

from __future__ import annotations

import hmac
from typing import Final, final

__all__ = ["Secret", "SecretLike", "to_secret"]

_MASK: Final = "**********"


@final
class Secret:
    """A secret string: ``str()``, ``repr()`` and f-strings show a mask.

    ``get_secret_value()`` returns the real value. Two secrets compare equal in
    constant time when their values are equal.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.get_secret_value()
        if not isinstance(value, str):
            raise TypeError(f"Secret expects a str, got {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """Return the real value. Use it only where the value must leave the process."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling would copy the value out in clear text; refuse instead of leaking.
        raise TypeError("Secret values cannot be pickled")


SecretLike = str | Secret


def to_secret(value: SecretLike, name: str) -> Secret:
    """Accept ``str`` or `Secret`; reject anything else with an error naming the argument."""
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise TypeError(f"{name} must be a str or yativo_async.Secret, not {type(value).__name__}")
