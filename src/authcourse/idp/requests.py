"""Reading HTTP requests for the OAuth server core: size caps, syntax checks, Authlib adapters.

Starlette reads bodies asynchronously while Authlib's server core is synchronous, so each
route first *captures* the request (``capture``), rejecting anything malformed with a plain
400, and then hands the captured, already-parsed request to Authlib through ``FormRequest``.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.requests import Request

from authcourse.idp.models import Grant

#: No legitimate OAuth parameter comes near this; a 100 kB ``state`` is an attack or a bug.
MAX_PARAMETER_LENGTH = 2048
MAX_BODY_BYTES = 16 * 1024
MAX_QUERY_BYTES = 16 * 1024
MAX_PARAMETERS = 32

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# RFC 6749 Appendix A: these parameters are made of VSCHAR (%x20-7E), URI-references or
# NQCHAR (a subset of VSCHAR). Rejecting anything else early also keeps attacker-chosen bytes
# out of error descriptions, which RFC 6749 §5.2 restricts to a subset of ASCII.
_OAUTH_PARAMETERS = frozenset(
    {
        "client_id",
        "client_secret",
        "code",
        "code_challenge",
        "code_challenge_method",
        "code_verifier",
        "grant_type",
        "nonce",
        "prompt",
        "redirect_uri",
        "refresh_token",
        "resource",
        "response_mode",
        "response_type",
        "scope",
        "state",
        "token",
        "token_type_hint",
    }
)
_VSCHAR = re.compile(r"[\x20-\x7e]*")
# RFC 6749 Appendix A.3: response-type = response-name *( SP response-name ).
_RESPONSE_TYPE = re.compile(r"[A-Za-z0-9_]+( [A-Za-z0-9_]+)*")


class MalformedRequest(Exception):
    """A request rejected before it reaches Authlib, with the RFC 6749 error code to answer."""

    def __init__(
        self, description: str, *, error: str = "invalid_request", status_code: int = 400
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code


@dataclass(frozen=True)
class CapturedRequest:
    """An HTTP request whose query and body have been read, size-checked and parsed."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    form: Mapping[str, str]

    def without_fields(self, *names: str) -> CapturedRequest:
        """The same request minus some form fields (the login credentials, say)."""
        kept = {key: value for key, value in self.form.items() if key not in names}
        return replace(self, form=kept)


async def capture(request: Request, *, read_form: bool) -> CapturedRequest:
    """Read ``request`` for the server core, or raise ``MalformedRequest``."""
    url = str(request.url)
    # RFC 6749 §3.1 and §3.2: the authorization and token endpoints MUST use TLS
    # (RFC 8252 §7.3 allows plain http on the loopback interface).
    if not is_secure_transport(url):
        raise MalformedRequest("This endpoint requires https (or a loopback address).")
    declared = request.headers.get("content-length", "0")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        # Refused unread, whatever the endpoint (RFC 9110 §15.5.14: 413 Content Too Large).
        raise _too_large()
    query = _parse_parameters(request.scope.get("query_string", b""), MAX_QUERY_BYTES)
    form: dict[str, str] = {}
    if read_form and request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        # RFC 6749 §3.2 and §4.1.3: token requests are application/x-www-form-urlencoded.
        if content_type != FORM_CONTENT_TYPE:
            raise MalformedRequest(f"The request body must be {FORM_CONTENT_TYPE}.")
        form = _parse_parameters(await _read_body(request), MAX_BODY_BYTES)
    _check_client_authentication(request.headers, form)
    return CapturedRequest(request.method, url, request.headers, query, form)


def _too_large() -> MalformedRequest:
    return MalformedRequest("The request body is too large.", status_code=413)


async def _read_body(request: Request) -> bytes:
    body = bytearray()
    # Read in chunks so a lying (or absent) Content-Length cannot make us buffer megabytes.
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    return bytes(body)


def _parse_parameters(raw: bytes, limit: int) -> dict[str, str]:
    if len(raw) > limit:
        raise MalformedRequest("The request parameters are too large.")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            errors="strict",
            max_num_fields=MAX_PARAMETERS,
        )
    except ValueError as error:  # bad UTF-8, bad percent-encoding or too many fields
        raise MalformedRequest("The request parameters are malformed.") from error
    parameters: dict[str, str] = {}
    for name, value in pairs:
        # RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once.
        if name in parameters:
            raise MalformedRequest("A request parameter is repeated.")
        if len(value) > MAX_PARAMETER_LENGTH:
            raise MalformedRequest("A request parameter is too large.")
        if name in _OAUTH_PARAMETERS and not _VSCHAR.fullmatch(value):
            raise MalformedRequest("A request parameter contains invalid characters.")
        parameters[name] = value
    response_type = parameters.get("response_type")
    if response_type is not None and not _RESPONSE_TYPE.fullmatch(response_type):
        raise MalformedRequest("The response_type parameter is malformed.")
    return parameters


def _check_client_authentication(headers: Mapping[str, str], form: Mapping[str, str]) -> None:
    authorization = headers.get("authorization", "")
    if authorization[:6].lower() != "basic ":
        return
    # RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    if "client_secret" in form:
        raise MalformedRequest("Use either HTTP Basic or client_secret, not both.")
    try:
        base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except ValueError as error:  # not base64, not ASCII, or not UTF-8 once decoded
        raise MalformedRequest(
            "Malformed HTTP Basic credentials.", error="invalid_client", status_code=401
        ) from error


class _Parameters(OAuth2Payload):
    """Authlib's view of the request parameters (each appears once; ``capture`` enforced it)."""

    def __init__(self, parameters: Mapping[str, str]) -> None:
        self._parameters = dict(parameters)

    @property
    def data(self) -> dict[str, str]:
        return self._parameters

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return defaultdict(list, {key: [value] for key, value in self._parameters.items()})


class FormRequest(OAuth2Request):
    """A captured request as Authlib's ``OAuth2Request``: query on GET, form body on POST.

    The grants also note here what they decided: the RFC 8707 ``resource`` at /authorize,
    the ``grant`` tokens are issued under at /token, and the user's ``auth_time``.
    """

    resource: str | None = None
    grant: Grant | None = None
    auth_time: int | None = None

    def __init__(self, captured: CapturedRequest) -> None:
        super().__init__(captured.method, captured.url, headers=captured.headers)
        self._query = dict(captured.query)
        self._form = dict(captured.form)
        # RFC 6749 §3.2: token requests carry their parameters in the body, never the URL.
        self.payload = _Parameters(self._form if captured.method == "POST" else self._query)

    @property
    def args(self) -> dict[str, str]:
        return self._query

    @property
    def form(self) -> dict[str, str]:
        return self._form
