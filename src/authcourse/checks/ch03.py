"""Chapter 3 (JWT) exercises: every case runs the learner's code for real.

Conventions the lab states: issuer ``ISSUER``, audience ``AUDIENCE``, access tokens carry
the header ``typ: at+jwt`` (``application/at+jwt`` too), live at most 15 minutes, and every
refusal raises ``clouddocs.jwt_tokens.InvalidToken``. This module holds the token
verification exercises (03.1, 03.2, 03.6); ``ch03_storage`` the server-side state ones
(03.3–03.5); ``ch03_support`` what they share.
"""

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import jwt.api_jws

from authcourse.checks import CheckFailed, ch03_storage, exercise, expect, expect_equal
from authcourse.checks.ch03_support import (
    OTHER_SECRET,
    SECRET,
    call_plain,
    claims,
    ed_key,
    expect_accepted,
    expect_refused,
    hand_made,
    hmac_with,
    hs256,
    pem,
    rsa_key,
)
from authcourse.checks.core import Namespace
from authcourse.clock import FrozenClock
from authcourse.lab_helpers.ch03 import AUDIENCE, ISSUER, JWKS_URL, naive_verify_rs256
from clouddocs.jwks import public_jwk
from clouddocs.jwt_tokens import ACCESS_TOKEN_TYPE, REFRESH_TOKEN_TYPE, InvalidToken, SigningKey

# Importing ch03_storage registers 03.3–03.5.
__all__ = ["ch03_storage"]

# --- 03.1 ----------------------------------------------------------------------------------
ex1 = exercise(
    "03.1",
    "Create and verify an access token",
    points=3,
    needs=("issue_access_token", "verify_access_token"),
    answered_by=(
        "clouddocs.jwt_tokens.TokenService.issue",
        "clouddocs.jwt_tokens.TokenService.verify",
        "clouddocs.jwt_tokens.verify_jwt",
    ),
    hints=(
        "jwt.encode(claims, secret, algorithm='HS256', headers={'typ': 'at+jwt'}); take iat from"
        " int(clock.time()).",
        "jwt.decode needs algorithms=['HS256'], issuer=, audience= and options={'require': [...]}"
        " listing all six claims.",
        "PyJWT checks exp against the wall clock: pass options 'verify_exp': False and compare"
        " exp with clock.time() yourself. Read typ with jwt.get_unverified_header and compare"
        " it lower-cased, without an 'application/' prefix, with 'at+jwt'.",
    ),
)


def _verify(ns: Namespace, token: str, clock: FrozenClock) -> Callable[[], Any]:
    return lambda: call_plain(ns, "verify_access_token", token, secret=SECRET, clock=clock)


@ex1.case(
    "a fresh token carries sub, iss, aud, iat, exp, jti and typ at+jwt, and verifies",
    positive=True,
)
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = call_plain(ns, "issue_access_token", "42", secret=SECRET, clock=clock)
    header = jwt.get_unverified_header(token)
    expect_equal(header.get("typ"), ACCESS_TOKEN_TYPE, "reading the typ header of your token")
    expect_equal(header.get("alg"), "HS256", "reading the alg header of your token")
    made = jwt.decode(
        token,
        SECRET,
        algorithms=["HS256"],
        options={"verify_exp": False, "verify_iat": False, "verify_aud": False},
    )
    missing = [name for name in ("iss", "sub", "aud", "iat", "exp", "jti") if name not in made]
    expect(not missing, "reading the claims of your token", "iss sub aud iat exp jti", missing)
    expect_equal(
        (made["iss"], made["aud"], made["sub"]), (ISSUER, AUDIENCE, "42"), "reading iss, aud, sub"
    )
    expect_equal(made["iat"], int(clock.time()), "comparing iat with the clock you were given")
    lifetime = made["exp"] - made["iat"]
    expect(0 < lifetime <= 900, "computing exp - iat", "at most 900 seconds", f"{lifetime} s")
    other = call_plain(ns, "issue_access_token", "42", secret=SECRET, clock=clock)
    expect(
        jwt.decode(other, options={"verify_signature": False})["jti"] != made["jti"],
        "issuing two tokens",
        "a different jti each time",
        "the same jti twice",
    )
    verified = expect_accepted(_verify(ns, token, clock), "verifying a fresh token")
    expect_equal(verified.get("sub"), "42", "verifying a fresh token")


@ex1.case("a token with alg none is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hand_made({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, claims(clock), None)
    expect_refused(_verify(ns, token, clock), "verifying an unsigned token (alg none)")


@ex1.case("a token signed with another key is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(OTHER_SECRET, claims(clock))
    expect_refused(_verify(ns, token, clock), "verifying a token signed with someone else's key")


@ex1.case("an expired token is refused (the clock moved 11 minutes)")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(SECRET, claims(clock))
    clock.advance(minutes=11)
    expect_refused(_verify(ns, token, clock), "verifying a token whose exp passed a minute ago")


@ex1.case("a token for another audience is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(SECRET, claims(clock, aud="https://billing.clouddocs.test"))
    expect_refused(_verify(ns, token, clock), "verifying a token minted for the billing service")


#: Issuers that only resemble ours: a prefix, ours with more after it, someone else's.
LOOKALIKE_ISSUERS = ("https://clouddocs.tes", "https://clouddocs.test.evil.example", "evil")


@ex1.case("a token from another issuer is refused, even one whose name starts like ours")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for issuer in LOOKALIKE_ISSUERS:
        token = hs256(SECRET, claims(clock, iss=issuer))
        expect_refused(_verify(ns, token, clock), f"verifying a token whose iss is {issuer!r}")


@ex1.case("a refresh token (typ refresh+jwt) is refused as an access token")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(SECRET, claims(clock), typ=REFRESH_TOKEN_TYPE)
    expect_refused(
        _verify(ns, token, clock), "verifying a refresh token where an access token is expected"
    )


@ex1.case("a token typed application/at+jwt verifies too (RFC 9068 §4)")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(SECRET, claims(clock), typ="application/at+jwt")
    tried = "verifying an access token whose typ is written 'application/at+jwt'"
    expect_equal(expect_accepted(_verify(ns, token, clock), tried).get("sub"), "42", tried)


@ex1.case("a token without exp is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = hs256(SECRET, claims(clock, exp=None))
    expect_refused(_verify(ns, token, clock), "verifying a token that never expires (no exp)")


@ex1.case("a token without sub, iat or jti is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for name in ("sub", "iat", "jti"):
        token = hs256(SECRET, claims(clock, **{name: None}))
        expect_refused(_verify(ns, token, clock), f"verifying a token without {name}")


# --- 03.2 ----------------------------------------------------------------------------------
ex2 = exercise(
    "03.2",
    "Attack then fix: algorithm confusion",
    points=3,
    needs=("forge_with_public_key", "verify_rs256_token"),
    answered_by=(
        "authcourse.checks.ch03_support.hand_made",
        "authcourse.checks.ch03_support.hs256",
        "authcourse.checks.ch03_support.hmac_with",
        "clouddocs.jwt_tokens.verify_jwt",
        "clouddocs.jwt_tokens.TokenService.verify",
    ),
    hints=(
        "The attack: header {'alg': 'HS256', 'typ': 'at+jwt'}, then HMAC-SHA256 over"
        " 'header.payload' with the PEM bytes as the key; everything base64url without padding.",
        "The fix: jwt.decode(token, public_key, algorithms=['RS256'], ...) — one algorithm,"
        " chosen by you, never by the token; then the same type, issuer, audience, required"
        " claims and clock checks as in 03.1.",
    ),
)


def _rs256(clock: FrozenClock, typ: str = ACCESS_TOKEN_TYPE, **changes: Any) -> str:
    return jwt.encode(claims(clock, **changes), rsa_key("issuer"), "RS256", headers={"typ": typ})


def _verify_rs(ns: Namespace, token: str, clock: FrozenClock) -> Callable[[], Any]:
    key = rsa_key("issuer").public_key()
    return lambda: call_plain(ns, "verify_rs256_token", token, public_key=key, clock=clock)


@ex2.case("your forged token fools the naive verifier into accepting an admin", positive=True)
def _(ns: Namespace) -> None:
    key_pem = pem(rsa_key("issuer"))
    forged = call_plain(ns, "forge_with_public_key", key_pem, claims(FrozenClock(), role="admin"))
    try:
        accepted = naive_verify_rs256(forged, key_pem)
    except (InvalidToken, ValueError, KeyError, AttributeError) as error:
        raise CheckFailed(
            "giving your forged token to the naive verifier",
            "it to be accepted",
            f"it was refused ({error})",
        ) from None
    expect_equal(accepted.get("role"), "admin", "reading the claims the naive verifier accepted")


@ex2.case("your verifier accepts a genuine RS256 token", positive=True)
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    tried = "verifying a genuine RS256 token"
    expect_equal(
        expect_accepted(_verify_rs(ns, _rs256(clock), clock), tried).get("sub"), "42", tried
    )


@ex2.case("your verifier refuses an HS256 token signed with the public key")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    header = {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE}
    forged = hand_made(header, claims(clock, role="admin"), hmac_with(pem(rsa_key("issuer"))))
    expect_refused(
        _verify_rs(ns, forged, clock),
        "verifying an HS256 token whose secret is the public key",
        hs256_with_rsa=True,
    )


@ex2.case("your verifier refuses alg none and expired tokens")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    unsigned = hand_made({"alg": "none", "typ": ACCESS_TOKEN_TYPE}, claims(clock), None)
    expect_refused(_verify_rs(ns, unsigned, clock), "verifying an unsigned token (alg none)")
    expired = _rs256(clock)
    clock.advance(minutes=11)
    expect_refused(
        _verify_rs(ns, expired, clock), "verifying an RS256 token 11 minutes after it was issued"
    )


@ex2.case("your verifier refuses an RS256 refresh token (typ refresh+jwt)")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _rs256(clock, typ=REFRESH_TOKEN_TYPE)
    expect_refused(_verify_rs(ns, token, clock), "verifying an RS256 token typed refresh+jwt")


@ex2.case("your verifier refuses an RS256 token for another audience")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _rs256(clock, aud="https://billing.clouddocs.test")
    expect_refused(_verify_rs(ns, token, clock), "verifying an RS256 token minted for billing")


@ex2.case("your verifier refuses an RS256 token from another issuer")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for issuer in LOOKALIKE_ISSUERS:
        token = _rs256(clock, iss=issuer)
        expect_refused(
            _verify_rs(ns, token, clock), f"verifying an RS256 token with iss {issuer!r}"
        )


# --- 03.6 ----------------------------------------------------------------------------------
ex6 = exercise(
    "03.6",
    "A JWKS verifier with a kid allow-list",
    points=3,
    needs=("verify_with_jwks",),
    answered_by=("clouddocs.jwks.JwksVerifier", "clouddocs.jwks.keys_from_jwks"),
    hints=(
        "Fetch the key set from the configured JWKS_URL only, then build {kid: jwk} from it.",
        "Refuse any token whose header has jku, jwk, x5u or x5c, even when its kid is known;"
        " check typ as in 03.1; look the kid up in your set.",
        "Decode with algorithms=[that jwk's own alg] — one algorithm, never a list of all the"
        " ones the issuer uses.",
    ),
)
_ATTACKER_JWKS_URL = "https://attacker.test/jwks.json"


def _issuer_keys() -> tuple[SigningKey, SigningKey]:
    rs = SigningKey("rs-1", "RS256", rsa_key("jwks-rs"))
    return rs, SigningKey("ed-1", "EdDSA", ed_key("jwks-ed"))


def _attacker() -> SigningKey:
    return SigningKey("evil", "RS256", rsa_key("attacker"))


def _fetcher() -> Callable[[str], dict[str, Any]]:
    rs, ed = _issuer_keys()
    documents = {
        JWKS_URL: {"keys": [public_jwk(rs), public_jwk(ed)]},
        _ATTACKER_JWKS_URL: {"keys": [public_jwk(_attacker())]},
    }
    return lambda url: documents[url]


def _signed(
    key: SigningKey, clock: FrozenClock, typ: str = ACCESS_TOKEN_TYPE, **header: Any
) -> str:
    header = {"typ": typ, "kid": key.kid, **header}
    return jwt.encode(claims(clock), key.private_key, algorithm=key.algorithm, headers=header)


def _jwks_verify(ns: Namespace, token: str, clock: FrozenClock) -> Callable[[], Any]:
    return lambda: call_plain(ns, "verify_with_jwks", token, fetch_jwks=_fetcher(), clock=clock)


@ex6.case("tokens signed by the issuer's RS256 and EdDSA keys verify", positive=True)
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for key in _issuer_keys():
        tried = f"verifying a genuine {key.algorithm} token (kid {key.kid})"
        verified = expect_accepted(_jwks_verify(ns, _signed(key, clock), clock), tried)
        expect_equal(verified.get("sub"), "42", tried)


@ex6.case("a token whose jku header points to the attacker's key set is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _signed(_attacker(), clock, jku=_ATTACKER_JWKS_URL)
    expect_refused(
        _jwks_verify(ns, token, clock),
        "verifying a token signed by the attacker with jku set to the attacker's JWKS",
    )


@ex6.case("a token carrying its own key in a jwk header is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    token = _signed(_attacker(), clock, jwk=public_jwk(_attacker()))
    expect_refused(
        _jwks_verify(ns, token, clock),
        "verifying a token that embeds the attacker's public key (jwk header)",
    )


@ex6.case("a token naming a key source (jku, x5u) next to a known kid is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    rs, _ed = _issuer_keys()
    for name, value in (("jku", _ATTACKER_JWKS_URL), ("x5u", "https://attacker.test/cert.pem")):
        token = _signed(rs, clock, **{name: value})
        expect_refused(
            _jwks_verify(ns, token, clock),
            f"verifying a token with the known kid rs-1 and a {name} header: the task says to"
            f" refuse any token that names its own key source",
        )


@ex6.case("unknown kid, alg none and HS256-with-the-public-key are refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    stranger = SigningKey("stranger", "RS256", rsa_key("stranger"))
    expect_refused(
        _jwks_verify(ns, _signed(stranger, clock), clock),
        "verifying a token whose kid is not in the issuer's JWKS",
    )
    header = {"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": "rs-1"}
    unsigned = hand_made(header, claims(clock), None)
    expect_refused(
        _jwks_verify(ns, unsigned, clock), "verifying an unsigned token (alg none, kid rs-1)"
    )
    header = {"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": "rs-1"}
    confused = hand_made(header, claims(clock), hmac_with(pem(rsa_key("jwks-rs"))))
    expect_refused(
        _jwks_verify(ns, confused, clock),
        "verifying an HS256 token (kid rs-1) keyed with the RSA public key",
        hs256_with_rsa=True,
    )


@ex6.case("a token that is not an access token (typ refresh+jwt) is refused")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    rs, _ed = _issuer_keys()
    token = _signed(rs, clock, typ=REFRESH_TOKEN_TYPE)
    expect_refused(_jwks_verify(ns, token, clock), "verifying a genuine RS256 refresh token")


@contextlib.contextmanager
def _algorithm_lists() -> Iterator[list[Any]]:
    """Record the ``algorithms`` each signature check in PyJWT was allowed to choose from."""
    seen: list[Any] = []
    original = jwt.api_jws.PyJWS._verify_signature

    def recording(self: Any, *args: Any, **kwargs: Any) -> Any:
        algorithms = kwargs.get("algorithms", args[4] if len(args) > 4 else None)
        key = kwargs.get("key", args[3] if len(args) > 3 else None)
        pinned = key.algorithm_name if isinstance(key, jwt.PyJWK) else None
        seen.append(sorted(algorithms) if algorithms else [pinned])
        return original(self, *args, **kwargs)

    jwt.api_jws.PyJWS._verify_signature = recording  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        jwt.api_jws.PyJWS._verify_signature = original  # type: ignore[method-assign]


@ex6.case("each key verifies only with its own alg, never a list of algorithms")
def _(ns: Namespace) -> None:
    clock = FrozenClock()
    for key in _issuer_keys():
        with _algorithm_lists() as seen:
            expect_accepted(_jwks_verify(ns, _signed(key, clock), clock), "verifying a token")
        wrong = [algorithms for algorithms in seen if algorithms != [key.algorithm]]
        expect(
            not wrong,
            f"verifying a token signed by {key.kid} (its JWK says alg {key.algorithm})",
            f"PyJWT allowed only [{key.algorithm!r}], the key's own alg: with a list, the"
            " token's header picks the algorithm (RFC 8725 §3.1)",
            f"algorithms={wrong[0] if wrong else None}",
        )
