"""Passwords, tokens and clearances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from services.gateway.security import (
    TokenError,
    clears,
    hash_password,
    issue_token,
    read_token,
    verify_password,
)

SECRET = "s" * 40


def test_a_password_verifies_against_its_scrypt_hash_and_nothing_else() -> None:
    stored = hash_password("correct horse", n=2**10)
    assert stored.startswith("scrypt$1024$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("correct horse", "plain")
    assert hash_password("correct horse", n=2**10) != stored  # salted


def test_a_fresh_token_names_its_user() -> None:
    assert read_token(issue_token("ada", SECRET, timedelta(minutes=5)).token, SECRET) == "ada"


def test_an_expired_token_is_refused_saying_so() -> None:
    issued = issue_token(
        "ada", SECRET, timedelta(hours=1), now=datetime.now(UTC) - timedelta(hours=2)
    )
    with pytest.raises(TokenError, match="token expired"):
        read_token(issued.token, SECRET)


def test_a_token_signed_with_another_key_is_refused() -> None:
    issued = issue_token("ada", "x" * 40, timedelta(minutes=5))
    with pytest.raises(TokenError, match="invalid token: Signature verification failed"):
        read_token(issued.token, SECRET)


def test_an_unsigned_token_is_refused() -> None:
    forged = jwt.encode(
        {"sub": "ada", "iss": "hinterland-gateway", "exp": 4_000_000_000}, None, algorithm="none"
    )
    with pytest.raises(TokenError, match="invalid token"):
        read_token(forged, SECRET)


@pytest.mark.parametrize(
    ("clearance", "classification", "expected"),
    [
        ("public", "public", True),
        ("public", "restricted", False),
        ("public", "military", False),
        ("restricted", "military", False),
        ("restricted", "restricted", True),
        ("military", "military", True),
        ("military", "public", True),
    ],
)
def test_clearance_covers_its_level_and_those_below(
    clearance: str, classification: str, expected: bool
) -> None:
    assert clears(clearance, classification) is expected  # type: ignore[arg-type]
