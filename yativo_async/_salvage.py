"""The new API secret in an answer that cannot be used as a whole.

A create, generate or rotate answer carries the only copy of a new key's secret. When the
answer is malformed somewhere else (a bad date, one byte that is not UTF-8, bytes after the
JSON, a nesting too deep to parse, a body cut at ``max_response_bytes`` or at a lying
``Content-Length``), the key still exists: the error raised for it keeps the secret
(`ResponseDecodeError.api_secret`). Only error paths come here.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ._secret import Secret

__all__ = ["SCAN_CAP", "Salvaged", "salvage_secret"]

#: (secret, key id, API key)
Salvaged = tuple[Secret, "str | None", "str | None"]

#: a JSON string literal (escapes included)
_STRING: Final = r'"((?:[^"\\\x00-\x1f]|\\.)*)"'
_FIELD: Final = {
    name: re.compile(rf'"{name}"\s*:\s*{_STRING}')
    for name in ("api_secret", "id", "key_id", "api_key_id", "api_key")
}
#: how much text the field search reads (`_transport.head_of` keeps as much of a body cut
#: short; the body is capped already, an error's text is not)
SCAN_CAP: Final = 1 << 20


def salvage_secret(body: bytes | str, *, whole: bool = True) -> Salvaged | None:
    """The new secret (with its key's id and API key) that ``body`` holds where a create,
    generate or rotate answer puts it (the top level, or ``data``), read as well as the body
    allows: as JSON; else as the first JSON document in it, undecodable bytes replaced;
    else by finding the ``"api_secret": "..."`` field in the text. ``None``: no secret.

    ``whole=False``: ``body`` is the head of a body cut short (at ``max_response_bytes``),
    which no JSON parser accepts: only the field search is made, on its first MiB (parsing
    megabytes only to fail at the cut would cost memory the cap is there to bound)."""
    if not whole:
        head = body[:SCAN_CAP]
        return _from_text(head.decode("utf-8", errors="replace")
                          if isinstance(head, bytes) else head)
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    found = _from_json(text)
    return found if found is not None else _from_text(text[:SCAN_CAP])


def _from_json(text: str) -> Salvaged | None:
    try:
        parsed, _ = json.JSONDecoder().raw_decode(text.lstrip("\ufeff \t\r\n"))
    except (ValueError, RecursionError):
        return None
    for obj in (parsed, parsed.get("data") if isinstance(parsed, dict) else None):
        if isinstance(obj, dict):
            found = _pick(obj)
            if found is not None:
                return found
    return None


def _pick(obj: dict[str, Any]) -> Salvaged | None:
    secret = obj.get("api_secret")
    if not isinstance(secret, str) or not secret.strip():
        return None
    key_id = next((v for k in ("id", "key_id", "api_key_id")
                   if isinstance(v := obj.get(k), str) and v), None)
    api_key = obj.get("api_key")
    return Secret(secret), key_id, api_key if isinstance(api_key, str) and api_key else None


def _from_text(text: str) -> Salvaged | None:
    secret = _field(text, "api_secret")
    if secret is None or not secret.strip():
        return None
    key_id = next((v for k in ("id", "key_id", "api_key_id") if (v := _field(text, k))), None)
    return Secret(secret), key_id, _field(text, "api_key") or None


def _field(text: str, name: str) -> str | None:
    match = _FIELD[name].search(text)
    if match is None:
        return None
    try:
        value = json.loads(f'"{match.group(1)}"')
    except ValueError:
        return None
    return value if isinstance(value, str) else None
