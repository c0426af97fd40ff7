"""Deterministic event ids: derived from the cause, so a replay produces the same ids."""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

NAMESPACE: Final = uuid.UUID("5b1f0c4e-2f67-4d1c-9a55-6a2f0f3b7c10")
_NAMESPACE_BYTES: Final = NAMESPACE.bytes


def derived_id(cause: str, *parts: object) -> str:
    """Stable id for the n-th thing produced because of ``cause``.

    Exactly ``str(uuid.uuid5(NAMESPACE, "cause:part:…"))`` (ids already stored must keep
    matching), computed without building a UUID object: 1.9 µs instead of 4.4, once per
    event a service emits.
    """
    name = ":".join([cause, *map(str, parts)]).encode()
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
