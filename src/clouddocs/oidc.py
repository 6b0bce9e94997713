# Generated from notebooks/06_openid_connect.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""OpenID Connect for CloudDocs: discovery, a JWKS cache, ID token validation, the login flow.

``RelyingParty`` works with any conforming OpenID provider from four settings: its issuer,
the client id, the client secret (None for a public client) and the redirect URI.
Discovery supplies the rest. It relies only on the claims every provider sends
(``iss sub aud exp iat`` and the ``nonce`` it asked for); ``email``, ``email_verified``
and groups are optional.
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit


class OIDCError(Exception):
    """A login, a response or a token the relying party refuses. The message says why in
    plain words and never contains a secret, so it can go to the logs."""


#: Asymmetric algorithms only. An ID token is verified with the provider's *public* key,
#: so ``none`` and HS256 (an HMAC keyed with something public) must never be accepted.
SAFE_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Clock skew tolerated on ``exp`` and ``iat``, in seconds; more than MAX_LEEWAY is refused.
DEFAULT_LEEWAY = 60
MAX_LEEWAY = 300
#: The JWK key type each algorithm family needs (RFC 7518 §6): an RSA key never verifies ES256.
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def key_type_for(algorithm: str) -> str:
    """The JWK ``kty`` that ``algorithm`` verifies with (``RS256`` → ``RSA``)."""
    return _KEY_TYPES[algorithm[:2]]


def is_loopback_host(host: str | None) -> bool:
    """``localhost`` or a loopback address: the only hosts where plain http is acceptable."""
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_secure_url(url: str, what: str) -> str:
    """``url``, if it is absolute, fragment-free and https (http only on a loopback host)."""
    parts = urlsplit(url)
    loopback_http = parts.scheme == "http" and is_loopback_host(parts.hostname)
    if not (parts.scheme == "https" or loopback_http) or not parts.netloc or parts.fragment:
        raise OIDCError(f"the {what} must be an https URL without a fragment, not {url!r}")
    return url


def s256(verifier: str) -> str:
    """The PKCE S256 challenge: base64url(SHA-256(verifier)), unpadded (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_pkce_pair() -> tuple[str, str]:
    """A code verifier (256 random bits, 43 characters) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, s256(verifier)


def same_value(received: object, expected: str) -> bool:
    """Constant-time equality for state and nonce; anything but a string is unequal."""
    return isinstance(received, str) and hmac.compare_digest(received.encode(), expected.encode())


import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWKError

from clouddocs.clock import Clock, SystemClock

#: An unknown ``kid`` triggers at most one JWKS download per this many seconds.
JWKS_REFETCH_INTERVAL = 60.0


class JwksCache:
    """The provider's public keys, downloaded once, refreshed when a token names a new key.

    ``fetch`` downloads the JWKS document. Concurrent lookups of an unknown ``kid`` share
    one download (a lock); a ``kid`` still unknown is refused without another download
    until ``refetch_interval`` seconds have passed, so forged ``kid``s cannot hammer the IdP.
    """

    def __init__(self, fetch: Callable[[], Awaitable[Mapping[str, Any]]], *,
                 clock: Clock | None = None, refetch_interval: float = JWKS_REFETCH_INTERVAL
                 ) -> None:
        self._fetch = fetch
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._refetch_interval = refetch_interval
        self._keys: list[tuple[str | None, PyJWK]] = []
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.downloads = 0  # how many times the JWKS was fetched (for tests and notebooks)

    async def key_for(self, kid: str | None, algorithm: str) -> PyJWK:
        """The key that verifies a token with this header, or ``OIDCError``."""
        key = self._find(kid, algorithm)
        if key is not None:
            return key
        async with self._lock:
            # Someone else may have downloaded the new set while this task waited.
            key = self._find(kid, algorithm)
            if key is None and self._may_refetch():
                await self._download()
                key = self._find(kid, algorithm)
        if key is None:
            raise OIDCError(f"no published key of the provider matches kid {kid!r}")
        return key

    def _may_refetch(self) -> bool:
        if self._fetched_at is None:
            return True
        return self._clock.time() - self._fetched_at >= self._refetch_interval

    async def _download(self) -> None:
        self._fetched_at = self._clock.time()  # before the await: a failure is rate-limited too
        self.downloads += 1
        document = await self._fetch()
        entries = document.get("keys") if isinstance(document, Mapping) else None
        keys: list[tuple[str | None, PyJWK]] = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                key = PyJWK(entry)
            except (PyJWKError, TypeError, ValueError, KeyError, AttributeError):
                continue  # a key type this library cannot use: skip it, keep the others
            if key.public_key_use in (None, "sig"):
                keys.append((entry.get("alg"), key))
        if not keys:
            raise OIDCError("the provider's JWKS holds no usable signing key")
        self._keys = keys

    def _find(self, kid: str | None, algorithm: str) -> PyJWK | None:
        candidates = [
            key
            for alg, key in self._keys
            if key.key_type == key_type_for(algorithm)
            and alg in (None, algorithm)  # a key published for one algorithm serves only it
            and (kid is None or key.key_id == kid)
        ]
        # A token without a kid may only use the key set's one candidate (OIDC Core §10.1).
        return candidates[0] if len(candidates) == 1 else None


import jwt

#: at_hash is the left half of the access token's hash, with the hash of the ID token's
#: algorithm (OpenID Connect Core §3.1.3.6); Ed25519 tokens use SHA-512.
_AT_HASH = {
    "256": hashlib.sha256,
    "384": hashlib.sha384,
    "512": hashlib.sha512,
    "DSA": hashlib.sha512,
}


def read_header(token: str, algorithms: frozenset[str] = SAFE_ALGORITHMS) -> tuple[str, str | None]:
    """The token's (``alg``, ``kid``), refusing an algorithm outside ``algorithms`` at once."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise OIDCError("the ID token is not a well-formed JWT") from error
    algorithm, kid = header.get("alg"), header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in algorithms & SAFE_ALGORITHMS:
        raise OIDCError(f"ID tokens signed with {algorithm!r} are not accepted")
    if kid is not None and not isinstance(kid, str):
        raise OIDCError("the ID token's kid is not a string")
    return algorithm, kid


def at_hash(access_token: str, algorithm: str) -> str:
    """The ``at_hash`` a provider computes for ``access_token`` under ``algorithm``."""
    digest = _AT_HASH[algorithm[-3:]](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OIDCError(f"the ID token has no numeric {name!r} claim")
    return float(value)


def validate_id_token(
    token: str,
    key: PyJWK,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float,
    leeway: float = DEFAULT_LEEWAY,
    algorithms: frozenset[str] = SAFE_ALGORITHMS,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The claims of an ID token that passes every check of OpenID Connect Core §3.1.3.7.

    Signature (``key``, one allowed asymmetric algorithm), ``iss`` exactly, ``aud``
    containing ``client_id`` (and ``azp`` naming it when there are several audiences),
    ``exp`` and ``iat`` against ``now`` within ``leeway``, the ``nonce`` this login sent,
    ``at_hash`` when the token carries one. Anything else raises ``OIDCError``.
    """
    if not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
    algorithm, _ = read_header(token, algorithms)
    if key.key_type != key_type_for(algorithm):
        raise OIDCError(f"a {key.key_type} key cannot verify an {algorithm} token")
    try:
        # The claims are checked below, against the injected clock and exact rules.
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except jwt.InvalidSignatureError as error:
        raise OIDCError("the ID token's signature does not verify") from error
    except jwt.PyJWTError as error:
        raise OIDCError("the ID token is not a well-formed JWT") from error
    if claims.get("iss") != issuer:
        raise OIDCError(f"the ID token was issued by {claims.get('iss')!r}, not {issuer!r}")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise OIDCError("the ID token has no valid 'sub' claim")
    _check_audience(claims, client_id)
    if now >= _number(claims, "exp") + leeway:
        raise OIDCError("the ID token has expired")
    if _number(claims, "iat") > now + leeway:
        raise OIDCError("the ID token was issued in the future")
    if not same_value(claims.get("nonce"), nonce):
        raise OIDCError("the ID token's nonce is not the one this login sent (a replay?)")
    if "at_hash" in claims and access_token is not None:
        if not same_value(claims["at_hash"], at_hash(access_token, algorithm)):
            raise OIDCError("the ID token's at_hash does not match the access token")
    return claims


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        raise OIDCError(f"the ID token is for {audience!r}, not for client {client_id!r}")
    # OpenID Connect Core §3.1.3.7 rules 3-5: with several audiences, azp names the client.
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise OIDCError("the ID token has several audiences and no azp naming the client")
    if azp is not None and azp != client_id:
        raise OIDCError(f"the ID token was issued to {azp!r} (azp), not to {client_id!r}")


from dataclasses import dataclass

import httpx2

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class ProviderMetadata:
    """What the relying party uses from a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    end_session_endpoint: str | None
    id_token_algorithms: frozenset[str]
    token_endpoint_auth_methods: tuple[str, ...]
    #: RFC 9207 §3: the provider puts ``iss`` in every authorization response.
    iss_parameter_supported: bool


async def discover(issuer: str, http: httpx2.AsyncClient) -> ProviderMetadata:
    """Read ``issuer``'s metadata (OpenID Connect Discovery 1.0 §4) and check it."""
    require_secure_url(issuer, "issuer")
    try:
        response = await http.get(issuer.rstrip("/") + DISCOVERY_PATH)
        document = response.json() if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError) as error:
        raise OIDCError(f"could not read the discovery document of {issuer!r}") from error
    if not isinstance(document, dict):
        raise OIDCError(f"could not read the discovery document of {issuer!r}")
    # Discovery §4.3: the issuer in the document MUST be exactly the one we asked.
    if document.get("issuer") != issuer:
        raise OIDCError(f"the discovery document names issuer {document.get('issuer')!r}")

    def endpoint(name: str, required: bool = True) -> str | None:
        value = document.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise OIDCError(f"the discovery document has no {name}")
        return require_secure_url(value, name)

    # RS256 is the default when the list is missing; the safe list removes none and HS*.
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = frozenset(a for a in offered if isinstance(a, str)) & SAFE_ALGORITHMS
    if not algorithms:
        raise OIDCError(f"the provider signs ID tokens only with algorithms we refuse: {offered}")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=str(endpoint("authorization_endpoint")),
        token_endpoint=str(endpoint("token_endpoint")),
        jwks_uri=str(endpoint("jwks_uri")),
        userinfo_endpoint=endpoint("userinfo_endpoint", required=False),
        end_session_endpoint=endpoint("end_session_endpoint", required=False),
        id_token_algorithms=algorithms,
        token_endpoint_auth_methods=tuple(str(m) for m in methods),
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )


async def fetch_jwks(http: httpx2.AsyncClient, jwks_uri: str) -> Mapping[str, Any]:
    """Download a JWKS document (RFC 7517 §5)."""
    try:
        response = await http.get(jwks_uri)
        document = response.json() if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError) as error:
        raise OIDCError("could not download the provider's JWKS") from error
    if not isinstance(document, dict):
        raise OIDCError("could not download the provider's JWKS")
    return document


from collections.abc import MutableMapping

#: The key under which a login in progress waits in the caller's session mapping.
PENDING_LOGIN = "oidc_login"
#: A login not finished within this many seconds is refused (the user wandered off).
LOGIN_TIMEOUT = 600


@dataclass(frozen=True)
class Identity:
    """Who signed in, as the provider vouched for it. (``issuer``, ``subject``) is the key."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    groups: tuple[str, ...]
    claims: Mapping[str, Any]
    id_token: str
    access_token: str


def identity_from(
    claims: Mapping[str, Any], id_token: str, access_token: str, groups_claim: str = "groups"
) -> Identity:
    """An ``Identity`` from validated claims; optional claims of the wrong type count as absent."""
    email, name, groups = claims.get("email"), claims.get("name"), claims.get(groups_claim)
    return Identity(
        issuer=claims["iss"],
        subject=claims["sub"],
        email=email if isinstance(email, str) else None,
        # Some providers send the string "true"; anything else means "not verified".
        email_verified=claims.get("email_verified") in (True, "true"),
        name=name if isinstance(name, str) else None,
        groups=tuple(g for g in groups if isinstance(g, str)) if isinstance(groups, list) else (),
        claims=dict(claims),
        id_token=id_token,
        access_token=access_token,
    )


def pending_issuer(session: Mapping[str, Any]) -> str | None:
    """The issuer of the login in progress in ``session``, if any (to pick its ``RelyingParty``)."""
    pending = session.get(PENDING_LOGIN)
    issuer = pending.get("issuer") if isinstance(pending, Mapping) else None
    return issuer if isinstance(issuer, str) else None


from urllib.parse import parse_qsl, quote_plus, urlencode


async def exchange_code(
    http: httpx2.AsyncClient,
    metadata: ProviderMetadata,
    *,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    code: str,
    code_verifier: str,
) -> dict[str, Any]:
    """Trade the authorization code (and PKCE verifier) for tokens at the token endpoint."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    headers = {"Accept": "application/json"}
    if client_secret is None:
        form["client_id"] = client_id  # a public client only names itself
    elif "client_secret_basic" in metadata.token_endpoint_auth_methods:
        # RFC 6749 §2.3.1: form-encode id and secret, then HTTP Basic.
        pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        form |= {"client_id": client_id, "client_secret": client_secret}
    try:
        response = await http.post(metadata.token_endpoint, data=form, headers=headers)
        body = response.json()
    except (httpx2.HTTPError, ValueError) as error:
        raise OIDCError("the token endpoint did not answer with JSON") from error
    if response.status_code != 200 or not isinstance(body, dict):
        error_code = body.get("error") if isinstance(body, dict) else None
        raise OIDCError(f"the token endpoint refused the code ({_printable(error_code)})")
    if not isinstance(body.get("id_token"), str) or not isinstance(body.get("access_token"), str):
        raise OIDCError("the token response has no id_token or access_token")
    return body


def _printable(value: object) -> str:
    """An error code from another party, safe to put in a log line (short, plain ASCII)."""
    text = value if isinstance(value, str) else "no error code"
    return "".join(c for c in text[:64] if c.isascii() and (c.isalnum() or c in "_-. "))


def callback_parameters(callback_url: str) -> dict[str, str]:
    """The query parameters of the redirect back from the provider; each may appear once."""
    pairs = parse_qsl(urlsplit(callback_url).query, keep_blank_values=True)
    parameters = dict(pairs)
    if len(parameters) != len(pairs):
        raise OIDCError("the authorization response repeats a parameter")
    return parameters


def check_authorization_response(
    parameters: Mapping[str, str], *, issuer: str, state: str, iss_required: bool
) -> str:
    """The code from the provider's redirect, after the mix-up and CSRF checks.

    RFC 9207 §2.4: ``iss`` must name the provider this login was sent to (and must be there
    when the provider says it always sends it); ``state`` must be this session's.
    """
    received_issuer = parameters.get("iss")
    if received_issuer is None and iss_required:
        raise OIDCError("the authorization response does not name its issuer (iss)")
    if received_issuer is not None and received_issuer != issuer:
        raise OIDCError(
            f"the authorization response comes from {received_issuer!r}, "
            f"but this login was sent to {issuer!r} (mix-up)"
        )
    if not same_value(parameters.get("state"), state):
        raise OIDCError("the state does not match this session's login (CSRF?)")
    if "error" in parameters:
        raise OIDCError(f"the provider refused the login ({_printable(parameters['error'])})")
    code = parameters.get("code")
    if not code:
        raise OIDCError("the authorization response has no code")
    return code


class ProviderConnection:
    """One client registration at one provider: its metadata, its keys, its ID tokens."""

    def __init__(
        self, *, issuer: str, client_id: str, client_secret: str | None = None,
        redirect_uri: str, http_client: httpx2.AsyncClient | None = None,
        scope: str = "openid email profile", clock: Clock | None = None,
        leeway: float = DEFAULT_LEEWAY, groups_claim: str = "groups",
    ) -> None:
        require_secure_url(issuer, "issuer")
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds")
        self.issuer, self.client_id, self.redirect_uri = issuer, client_id, redirect_uri
        self._client_secret = client_secret
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx2.AsyncClient(timeout=10)
        self.scope, self.leeway, self.groups_claim = scope, leeway, groups_claim
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._metadata: ProviderMetadata | None = None
        self._discovering = asyncio.Lock()  # concurrent first logins discover once
        self.jwks = JwksCache(self._download_jwks, clock=self.clock)

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document, read on first use and kept."""
        if self._metadata is None:
            async with self._discovering:
                if self._metadata is None:
                    self._metadata = await discover(self.issuer, self._http)
        return self._metadata

    async def _download_jwks(self) -> Mapping[str, Any]:
        return await fetch_jwks(self._http, (await self.metadata()).jwks_uri)

    async def validate(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """Validate an ID token from this provider (the key comes from the JWKS cache)."""
        metadata = await self.metadata()
        algorithm, kid = read_header(id_token, metadata.id_token_algorithms)
        key = await self.jwks.key_for(kid, algorithm)
        return validate_id_token(
            id_token,
            key,
            issuer=self.issuer,
            client_id=self.client_id,
            nonce=nonce,
            now=self.clock.time(),
            leeway=self.leeway,
            algorithms=metadata.id_token_algorithms,
            access_token=access_token,
        )

    async def aclose(self) -> None:
        """Close the HTTP client, if this object made it (``http_client=None``)."""
        if self._owns_http:
            await self._http.aclose()

    async def logout_url(
        self, id_token_hint: str | None = None, post_logout_redirect_uri: str | None = None
    ) -> str | None:
        """Where to send the browser to end the provider's session too (RP-Initiated
        Logout 1.0 §2), or None when the provider has no ``end_session_endpoint``."""
        endpoint = (await self.metadata()).end_session_endpoint
        if endpoint is None:
            return None
        parameters = {"client_id": self.client_id}
        if id_token_hint is not None:
            parameters["id_token_hint"] = id_token_hint
        if post_logout_redirect_uri is not None:
            parameters["post_logout_redirect_uri"] = post_logout_redirect_uri
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(parameters)}"


class RelyingParty(ProviderConnection):
    """Log users in with any conforming OpenID provider (authorization code + PKCE + nonce).

    >>> rp = RelyingParty(issuer="https://accounts.google.com", client_id="…",
    ...                   client_secret="…", redirect_uri="https://clouddocs.test/auth/callback")
    >>> url = await rp.start_login(session)                        # doctest: +SKIP
    >>> identity = await rp.finish_login(callback_url, session)    # doctest: +SKIP

    ``session`` is any mutable mapping that survives the round trip through the provider
    (the web session): it holds the state, nonce and PKCE verifier of the login in progress.
    """

    async def start_login(self, session: MutableMapping[str, Any]) -> str:
        """Remember a fresh state, nonce and PKCE verifier in ``session``; return the URL
        to send the browser to."""
        metadata = await self.metadata()
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = new_pkce_pair()
        session[PENDING_LOGIN] = {"issuer": self.issuer, "state": state, "nonce": nonce,
                                  "code_verifier": verifier, "started_at": self.clock.time()}
        query = urlencode({"response_type": "code", "client_id": self.client_id,
                           "redirect_uri": self.redirect_uri, "scope": self.scope,
                           "state": state, "nonce": nonce, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        endpoint = metadata.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def finish_login(self, callback_url: str, session: MutableMapping[str, Any]) -> Identity:
        """Check the provider's redirect, redeem the code and validate the ID token.

        The login in progress leaves ``session`` first, so a callback works once (a replayed
        one finds nothing). Refusals raise ``OIDCError`` before any code leaves this process.
        """
        pending = session.pop(PENDING_LOGIN, None)
        if not isinstance(pending, Mapping) or pending.get("issuer") != self.issuer:
            raise OIDCError(f"no login with {self.issuer} is in progress in this session")
        if self.clock.time() - float(pending["started_at"]) > LOGIN_TIMEOUT:
            raise OIDCError("the login took too long; start again")
        metadata = await self.metadata()
        code = check_authorization_response(
            callback_parameters(callback_url),
            issuer=self.issuer,
            state=pending["state"],
            iss_required=metadata.iss_parameter_supported,
        )
        tokens = await exchange_code(
            self._http,
            metadata,
            client_id=self.client_id,
            client_secret=self._client_secret,
            redirect_uri=self.redirect_uri,
            code=code,
            code_verifier=pending["code_verifier"],
        )
        claims = await self.validate(
            tokens["id_token"], nonce=pending["nonce"], access_token=tokens["access_token"]
        )
        return identity_from(claims, tokens["id_token"], tokens["access_token"], self.groups_claim)

    async def userinfo(self, identity: Identity) -> dict[str, Any]:
        """The provider's /userinfo claims; their ``sub`` must be the ID token's (Core §5.3.4)."""
        endpoint = (await self.metadata()).userinfo_endpoint
        if endpoint is None:
            raise OIDCError("this provider has no userinfo endpoint")
        try:
            response = await self._http.get(
                endpoint, headers={"Authorization": f"Bearer {identity.access_token}"})
            claims = response.json() if response.status_code == 200 else None
        except (httpx2.HTTPError, ValueError) as error:  # a signed (JWT) answer is not handled
            raise OIDCError("the userinfo endpoint did not answer with JSON") from error
        if not isinstance(claims, dict) or claims.get("sub") != identity.subject:
            raise OIDCError("the userinfo response is not about the signed-in user")
        return claims
