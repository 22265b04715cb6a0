"""The one exception base of feedhub and its families.

`SourceError` and its subclasses are the expected per-source failures: the
pipeline records them on the source (shown by `feedhub status`) and goes on
with the other sources. Anything else that escapes is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus


class FeedhubError(Exception):
    """Base of every error feedhub raises on purpose."""


class ConfigError(FeedhubError):
    """The configuration is unusable; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class InputRefused(ConfigError):
    """What the command line was given is refused (an unknown source, a URL that is no feed).

    It exits 2 like a config problem: the input needs fixing.
    """

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


class EditRefused(InputRefused):
    """A change to the config is refused (duplicate source, unknown category, not a feed);
    nothing was written."""


class StoreError(FeedhubError):
    """The store cannot be opened, upgraded or written."""


class OpmlError(FeedhubError):
    """A file given as OPML is not an OPML document feedhub can read."""


class PublishError(FeedhubError):
    """Some published documents could not be written; the others were (see the log)."""

    def __init__(self, failed: list[str]) -> None:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        super().__init__(
            f"could not publish {shown}; the other documents were written (the log says why)"
        )
        self.failed = failed


class ServeError(FeedhubError):
    """The server cannot start (the address is taken or not ours to listen on)."""


class SourceError(FeedhubError):
    """An expected failure of one source; `reason` is a short machine-readable kind.

    Its message is the detail, for the operator (`status`, the log). `public` names
    the class of the failure in words fit to publish (the front page, the health
    feed): never a URL, a path, an address or a word the source chose.
    """

    reason = "error"
    public = "failed"

    def __init__(self, message: str, public: str | None = None) -> None:
        super().__init__(message)
        if public is not None:
            self.public = public


class FetchError(SourceError):
    """The network or file fetch failed (DNS, connection, timeout, I/O)."""

    reason = "fetch"
    public = "fetch failed"


class HostNotFound(FetchError):
    """The source's host name does not resolve."""

    public = "host not found"


class HTTPStatusError(FetchError):
    """The server answered with an error status; `headers` (lower-cased) may say when to retry."""

    reason = "http"

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        # The standard phrase, not the server's: a reason phrase is whatever it chose to say.
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        super().__init__(message, f"HTTP {status} {phrase}".strip())
        self.status = status
        self.headers: Mapping[str, str] = headers or {}


class FetchStopped(FetchError):
    """The fetch was cut short, or never started, because feedhub is stopping: not the
    source's failure, so nothing is recorded on it and its claim is given back."""

    reason = "stopped"


class LimitExceeded(FetchError):
    """A configured limit (size, deadline, redirects) was reached."""

    reason = "limit"
    public = "refused: over a limit"


class AddressRefused(FetchError):
    """The URL's scheme or address is not allowed to be fetched."""

    reason = "address"
    public = "refused: not a public address"


class PrivateAddressRefused(AddressRefused):
    """The URL's host is on a loopback or private network, which the source may not reach."""


PARSER_FAILED = "the feed parser failed"  # what is published of a parser crash


class ParseError(SourceError):
    """The document is not a feed feedhub can read."""

    reason = "parse"
    public = "not an RSS or Atom feed"
