"""Passwords (scrypt), bearer tokens (HS256 JWT), roles and clearances.

Tokens are OAuth2 password-flow access tokens: short JSON Web Tokens signed with HS256 by
the gateway itself. The gateway is the only issuer and the only verifier, so a symmetric key
is enough (no key distribution), and a token is checked without a database round trip for
its signature and expiry; the user row is still read on every request so that a disabled
user or a changed role takes effect at once, not at expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, get_args

import jwt

from contracts.envelope import Classification

Role = Literal["dispatcher", "integrator", "exercise-controller", "observer", "admin"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
CLEARANCE_ORDER: Final[tuple[Classification, ...]] = ("public", "restricted", "military")
ALGORITHM: Final = "HS256"
ISSUER: Final = "hinterland-gateway"

# scrypt cost: n=2**14, r=8, p=1 is the interactive-login setting (16 MiB, ~50 ms here).
_N, _R, _P = 2**14, 8, 1


class TokenError(Exception):
    """A bearer token that cannot be trusted; the message says why (shown to the caller)."""


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64), the parameters kept so they can be raised later."""
    if not password:
        raise ValueError("password must not be empty")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored ``hash_password`` value."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=32,
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def clears(clearance: Classification, classification: Classification) -> bool:
    """True if someone cleared to ``clearance`` may see something ``classification``."""
    return CLEARANCE_ORDER.index(classification) <= CLEARANCE_ORDER.index(clearance)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as the user table says now."""

    username: str
    roles: frozenset[Role]
    clearance: Classification


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


def issue_token(
    username: str, secret: str, ttl: timedelta, now: datetime | None = None
) -> IssuedToken:
    """A signed access token for ``username`` that expires after ``ttl``."""
    issued = now or datetime.now(UTC)
    expires = issued + ttl
    claims = {
        "sub": username,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": secrets.token_hex(8),
    }
    return IssuedToken(jwt.encode(claims, secret, algorithm=ALGORITHM), expires)


def read_token(token: str, secret: str) -> str:
    """The username a valid token names; ``TokenError`` saying what is wrong otherwise."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never "none", never what the token header asks for
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired: log in again") from exc
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token: {exc}") from exc
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise TokenError("invalid token: no subject")
    return sub
