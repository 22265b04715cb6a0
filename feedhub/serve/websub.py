"""The web app's WebSub endpoints: the hub (`/websub`) and feedhub's callbacks as a
subscriber (`/websub/callback/<token>`).

Only HTTP is handled here: the request is read within its limits and handed to a
`feedhub.core.websub.WebSubEndpoints`, which decides (the app wires it to the store).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl
from wsgiref.types import WSGIEnvironment

from feedhub.core.websub import CALLBACK_PATH, HUB_PATH, Answer, WebSubEndpoints

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_FIELDS = 20
_FORM = "application/x-www-form-urlencoded"
_PUSHED_HEADERS = ("content-type", "x-hub-signature", "link")


def websub_answer(endpoints: WebSubEndpoints, environ: WSGIEnvironment) -> Answer | None:
    """The answer to a WebSub request; None when the request is for another path."""
    path = environ.get("PATH_INFO", "")
    method = environ["REQUEST_METHOD"]
    if path == "/" + HUB_PATH:
        if method != "POST":
            return _not_allowed("POST")
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if content_type != _FORM:
            return Answer("415 Unsupported Media Type", f"send the request as {_FORM}\n")
        text = _body(environ).decode("utf-8", "replace")
        try:
            fields = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
        except ValueError:
            return Answer("400 Bad Request", "too many form fields\n")
        return endpoints.subscription_request(dict(reversed(fields)))  # the first value wins
    if not path.startswith("/" + CALLBACK_PATH):
        return None
    token = path.removeprefix("/" + CALLBACK_PATH)
    if not _TOKEN.fullmatch(token):
        return Answer("404 Not Found", "no such subscription\n")
    if method == "GET":
        query = parse_qsl(
            environ.get("QUERY_STRING", ""), keep_blank_values=True, max_num_fields=_MAX_FIELDS
        )
        return endpoints.verify_intent(token, dict(reversed(query)))
    if method == "POST":
        headers = {
            name: value
            for name in _PUSHED_HEADERS
            if (value := environ.get(_cgi_name(name))) is not None
        }
        return endpoints.content(token, _body(environ), headers)
    return _not_allowed("GET, POST")


def _cgi_name(header: str) -> str:
    name = header.upper().replace("-", "_")
    return name if name == "CONTENT_TYPE" else "HTTP_" + name


def _body(environ: WSGIEnvironment) -> bytes:
    # waitress has already refused a body over its max_request_body_size.
    length = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    return bytes(stream.read(int(length)) if length.isdigit() else stream.read())


def _not_allowed(allowed: str) -> Answer:
    return Answer("405 Method Not Allowed", f"use {allowed}\n", (("Allow", allowed),))
