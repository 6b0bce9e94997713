"""Renders one HTTP exchange (request and response) for a learner to read.

``show(response)`` displays the request line, headers, cookies with their attributes and
the body, as HTML in Jupyter and as text elsewhere. Secrets are masked by default:
credentials are what a screenshot, a shared notebook or a log must never carry. Pass
``reveal=True`` only when the secret itself is the lesson.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass

import httpx2

MASK = "•••"

# Headers whose whole value is a credential.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "x-csrf-token"}
# JSON fields whose value is a credential (matched on the lower-cased key).
_SECRET_FIELD = re.compile(
    r"(password|secret|token|api_key|apikey|code_verifier|^code$|^key$|session)", re.IGNORECASE
)
# Credential-looking strings anywhere in text: JWTs and CloudDocs API keys.
_JWT = re.compile(r"\beyJ[\w-]*\.[\w-]*\.[\w-]*")
_API_KEY = re.compile(r"\bcdk_(live|test)_[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Exchange:
    """One request/response pair, ready to display."""

    request_lines: list[str]
    response_lines: list[str]

    def text(self) -> str:
        return "\n".join([*self.request_lines, "", *self.response_lines])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        def block(title: str, lines: list[str]) -> str:
            body = html.escape("\n".join(lines))
            return f"<div><b>{title}</b><pre style='margin:0'>{body}</pre></div>"

        return block("Request", self.request_lines) + block("Response", self.response_lines)


def show(response: httpx2.Response, *, reveal: bool = False) -> Exchange:
    """Render ``response`` and the request that produced it."""
    request = response.request
    target = request.url.raw_path.decode("ascii")
    if not reveal:
        # Keys and codes sent in a query string are exactly what access logs leak.
        target = _mask_query(target)
    request_lines = [f"{request.method} {target} HTTP/1.1", f"host: {request.url.host}"]
    request_lines += [
        f"{name}: {_header_value(name, value, reveal)}"
        for name, value in request.headers.items()
        if name
        not in {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
    ]
    request_body = _body_text(request.content, request.headers.get("content-type", ""), reveal)
    if request_body:
        request_lines += ["", request_body]

    response_lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    for name, value in response.headers.multi_items():
        if name == "set-cookie":
            response_lines.append(f"set-cookie: {_set_cookie(value, reveal)}")
        elif name != "content-length":
            response_lines.append(f"{name}: {_header_value(name, value, reveal)}")
    response_body = _body_text(response.content, response.headers.get("content-type", ""), reveal)
    if response_body:
        response_lines += ["", response_body]
    return Exchange(request_lines, response_lines)


def mask_text(text: str) -> str:
    """Hide JWTs and API keys inside free text, keeping a recognisable prefix."""
    text = _JWT.sub(lambda m: m.group(0)[:10] + MASK, text)
    return _API_KEY.sub(lambda m: m.group(0)[:9] + MASK, text)


def _header_value(name: str, value: str, reveal: bool) -> str:
    if reveal:
        return value
    if name in _SECRET_HEADERS:
        scheme, _, credential = value.partition(" ")
        # Keep the scheme ("Bearer", "Basic") because it is part of the lesson.
        return f"{scheme} {MASK}" if credential else MASK
    if name == "cookie":
        pairs = [pair.split("=", 1)[0] + "=" + MASK for pair in value.split("; ")]
        return "; ".join(pairs)
    if name == "location":
        return _mask_query(value)
    return mask_text(value)


def _set_cookie(value: str, reveal: bool) -> str:
    if reveal:
        return value
    cookie_name, _, rest = value.partition("=")
    cookie_value, sep, attributes = rest.partition(";")
    shown = cookie_value if cookie_value in ('""', "") else MASK
    return f"{cookie_name}={shown}{sep}{attributes}"


def _mask_query(url: str) -> str:
    # Authorization codes, states and tokens ride in redirect URLs; keep the parameter
    # names visible and hide their values.
    base, has_query, query = url.partition("?")
    if not has_query:
        return url
    return base + "?" + "&".join(_mask_form_pair(pair, also={"state"}) for pair in query.split("&"))


def _body_text(content: bytes, content_type: str, reveal: bool) -> str:
    if not content:
        return ""
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError:
            return text if reveal else mask_text(text)
        return json.dumps(data if reveal else _mask_json(data), indent=2, ensure_ascii=False)
    if "x-www-form-urlencoded" in content_type and not reveal:
        return "&".join(_mask_form_pair(pair) for pair in text.split("&") if pair)
    return text if reveal else mask_text(text)


def _mask_form_pair(pair: str, also: frozenset[str] | set[str] = frozenset()) -> str:
    key, has_value, _ = pair.partition("=")
    secret = _SECRET_FIELD.search(key) or key in also
    return f"{key}={MASK}" if has_value and secret else pair


def _mask_json(data: object) -> object:
    if isinstance(data, dict):
        return {
            key: MASK
            if _SECRET_FIELD.search(str(key)) and isinstance(value, str)
            else _mask_json(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [_mask_json(item) for item in data]
    if isinstance(data, str):
        return mask_text(data)
    return data
