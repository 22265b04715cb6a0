"""The URL policy, in one place: which URLs may be published, and how a URL is shown safely.

- `publishable_url` judges a URL after it has been resolved: only http, https
  (with a host) and mailto pass; userinfo is dropped; dot segments are removed
  (so `/embed/../../evil` is judged as `/evil`); characters that are not allowed
  in a URI (quotes, spaces, angle brackets, backslashes...) are percent-encoded,
  so a URL cannot break out of an attribute or read differently to a browser.
- `resolve` makes a reference absolute against a base stripped of its secrets,
  then judges the result: the scheme is checked after resolution, never before.
- `redact_url` / `redact_text` show a URL, or every URL in a message, without
  userinfo and with the values of secret-looking query parameters replaced;
  `RedactSecrets` does it to every log record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

PUBLISHED_SCHEMES = frozenset({"http", "https", "mailto"})
WEB_SCHEMES = frozenset({"http", "https"})
REDACTED = "REDACTED"
# The store keeps links in columns of 2048 characters; longer ones are not links anyone follows.
MAX_URL_CHARS = 2048

# A query parameter is secret when one of its words (split at punctuation and camelCase)
# is one of these, or its whole name is one of the glued spellings.
_SECRET_WORDS = frozenset(
    {
        "token",
        "key",
        "secret",
        "password",
        "passwd",
        "pwd",
        "pass",
        "auth",
        "authorization",
        "sig",
        "signature",
        "credential",
        "credentials",
        "session",
        "sessionid",
        "sid",
        "jwt",
        "apikey",
        "apitoken",
        "accesstoken",
        "authtoken",
        "privatekey",
        "clientsecret",
    }
)
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
# ASCII characters RFC 3986 allows in a URI; every other ASCII character is encoded.
# Non-ASCII characters stay: Atom links are IRIs (RFC 4287), and browsers encode them.
_NOT_IN_URI = re.compile(r"[\x00-\x20\"<>\\^`{|}\x7f]|%(?![0-9A-Fa-f]{2})")
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s<>\"']+")
# A query parameter: `name=value` in a query; in free text (a request line in a log, a
# path), one that follows `?`, `&` or `;`.
_PARAMETER = re.compile(r"(?:^|(?<=[&;]))([^=&;]+)=([^&;]*)")
_PARAMETER_IN_TEXT = re.compile(
    r"(?<=[?&;])([A-Za-z0-9_.%\-\[\]]+)=([^&;\s#\"'<>]*?)(?=[:,.;)]*(?:[&\s#\"'<>]|$))"
)
_DOT_SEGMENT = re.compile(r"%2e", re.IGNORECASE)


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter's value looks like a credential, by the parameter's name."""
    words = {word.lower() for word in _WORD.findall(name)}
    glued = re.sub(r"[^a-z0-9]", "", name.lower())
    return bool(words & _SECRET_WORDS) or glued in _SECRET_WORDS


def redact_url(url: str) -> str:
    """`url` without userinfo, the values of its secret-looking query parameters replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    netloc = parts.netloc.rpartition("@")[2]
    query = _PARAMETER.sub(_redacted_parameter, parts.query)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (see `redact_url`), and the secret-looking
    query parameters of partial URLs too (a request line): for messages and logs."""
    text = _URL_IN_TEXT.sub(_redacted_url, text)
    return _PARAMETER_IN_TEXT.sub(_redacted_parameter, text)


def _redacted_url(found: re.Match[str]) -> str:
    url = found.group(0)
    # "URL: message" and "(URL)." are how messages quote a URL: the colon is not its own.
    end = len(url.rstrip(":,.;)"))
    return redact_url(url[:end]) + url[end:]


def _redacted_parameter(found: re.Match[str]) -> str:
    name = found.group(1)
    return f"{name}={REDACTED}" if is_secret_parameter(unquote(name)) else found.group(0)


class RedactSecrets(logging.Filter):
    """A logging filter that redacts every URL in a record's message (see `redact_text`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def publishable_url(url: str, schemes: frozenset[str] = PUBLISHED_SCHEMES) -> str | None:
    """`url`, absolute, safe to publish; None if its scheme is not in `schemes` (http,
    https and mailto by default) or it is not a usable URL."""
    text = _encoded(url.strip())
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError on a port that is no number)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in schemes or len(text) > MAX_URL_CHARS:
        return None
    if scheme == "mailto":
        return urlunsplit(parts._replace(scheme=scheme))
    if not parts.hostname:
        return None
    # Without userinfo; the host as written (links are entry identities: keep them stable).
    netloc = parts.netloc.rpartition("@")[2]
    path = _without_dot_segments(parts.path) or "/"
    return urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


def web_url(url: str | None) -> str | None:
    """`url` if it is an http(s) URL anyone may see (secrets redacted), else None: for
    source URLs and site links, which are never local files or other schemes."""
    if not url:
        return None
    published = publishable_url(url, WEB_SCHEMES)
    return redact_url(published) if published else None


def resolve(
    base_url: str, reference: str, schemes: frozenset[str] = PUBLISHED_SCHEMES
) -> str | None:
    """`reference` made absolute against `base_url` (without its userinfo and secrets),
    then judged by `publishable_url`."""
    base = redact_url(base_url) if base_url else ""
    try:
        absolute = urljoin(base, reference.strip())
    except ValueError:
        return None
    return publishable_url(absolute, schemes)


def _encoded(url: str) -> str:
    return _NOT_IN_URI.sub(lambda found: f"%{ord(found.group(0)):02X}", url)


def _without_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, with `%2e` read as `.` as browsers read it."""
    if "." not in path and "%" not in path:
        return path
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        plain = _DOT_SEGMENT.sub(".", segment)
        last = index == len(segments) - 1
        if plain == ".":
            if last:
                output.append("")
        elif plain == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/".join(output)
