"""Realistic bodies: keys as the docs show them (both naming variants, timestamps with
``Z`` and with offsets, a null ``last_used_at`` now and then)."""

from __future__ import annotations

import json
from typing import Any


def key(i: int) -> dict[str, Any]:
    return {
        "id": f"key_{i:08x}abc123",
        "name": f"Production Server {i}",
        "permissions": ["transactions:read", "accounts:read"] + (["webhooks:manage"] if i % 3 else []),
        "status": "revoked" if i % 7 == 0 else "active",
        "created_at": f"2026-0{1 + i % 9}-1{i % 10}T10:{i % 60:02d}:00Z",
        "expires_at": f"2027-01-1{i % 10}T00:00:00.000Z",
        "last_used_at": None if i % 4 == 0 else f"2026-11-2{i % 10}T08:15:{i % 60:02d}.123456+00:00",
    }


def key_list_body(n: int) -> bytes:
    return json.dumps({"keys": [key(i) for i in range(n)]}).encode()
