"""The reference verifier's own regression tests: expiry on either clock, garbage refused.

(The checks' contract for chapter 3 lives in ``tests/test_check_contract.py``.)
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from authcourse.clock import FrozenClock, SystemClock
from clouddocs.tokens import InvalidToken, KeyRing, TokenService, TokenSettings, new_hs256_key


def _service(clock: Any) -> TokenService:
    return TokenService(
        KeyRing(new_hs256_key("k")), TokenSettings("https://iss.test", "https://aud.test"), clock
    )


def test_expired_token_is_refused_with_the_system_clock() -> None:
    # Issued 20 minutes ago by the real clock's standards: PyJWT's own exp check is off, so
    # this proves our clock-based check runs in production too.
    issued_at = datetime.now(UTC) - timedelta(minutes=20)
    issuer = _service(FrozenClock(issued_at))
    token = issuer.issue("1")
    verifier = TokenService(issuer.keys, issuer.settings, SystemClock())
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_expired_token_is_refused_with_a_frozen_clock() -> None:
    clock = FrozenClock()
    service = _service(clock)
    token = service.issue("1")
    clock.advance(minutes=10, seconds=31)
    with pytest.raises(InvalidToken, match="expired"):
        service.verify(token)


def test_fresh_token_verifies_with_the_system_clock() -> None:
    service = _service(SystemClock())
    assert service.verify(service.issue("1"))["sub"] == "1"


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 5000])
def test_malformed_tokens_are_invalid_not_errors(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        _service(FrozenClock()).verify(garbage)
