"""The one exception base of feedhub and its families.

`SourceError` and its subclasses are the expected per-source failures: the
pipeline records them on the source (shown by `feedhub status`) and goes on
with the other sources. Anything else that escapes is a bug.
"""

from __future__ import annotations

from collections.abc import Mapping


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


class ServeError(FeedhubError):
    """The server cannot start (the address is taken or not ours to listen on)."""


class SourceError(FeedhubError):
    """An expected failure of one source; `reason` is a short machine-readable kind."""

    reason = "error"


class FetchError(SourceError):
    """The network or file fetch failed (DNS, connection, timeout, I/O)."""

    reason = "fetch"


class HTTPStatusError(FetchError):
    """The server answered with an error status; `headers` (lower-cased) may say when to retry."""

    reason = "http"

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers: Mapping[str, str] = headers or {}


class FetchStopped(FetchError):
    """The fetch was cut short, or never started, because feedhub is stopping: not the
    source's failure, so nothing is recorded on it and its claim is given back."""

    reason = "stopped"


class LimitExceeded(FetchError):
    """A configured limit (size, deadline, redirects) was reached."""

    reason = "limit"


class AddressRefused(FetchError):
    """The URL's scheme or address is not allowed to be fetched."""

    reason = "address"


class PrivateAddressRefused(AddressRefused):
    """The URL's host is on a loopback or private network, which the source may not reach."""


class ParseError(SourceError):
    """The document is not a feed feedhub can read."""

    reason = "parse"
