"""The content fingerprint skips its timestamp pattern only on texts where it could not
match: the same fingerprints (so the same content hashes, and no entry counted as
rewritten after an upgrade) for any text, including near-misses and case tricks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feedhub.parse import normalize

PIECES = st.sampled_from(
    [
        "Updated", "UPDATED:", "last modified", "mod\u0131f\u0131ed", "MOD\u0130F\u0130ED at",
        "Refre\u017fhed on",
        "2024-06-01 10:00", "2024-06-01T10:00:00Z", "-01-", "<time>", "<TIME datetime='x'>",
        "</time>", "at", "3 hours ago", "Mon", "June", "<p>", "</p>", " ", "\n", "text", "-",
    ]
)  # fmt: skip


def always_searched(text: str) -> str:
    """The fingerprint as it was, with the pattern run on every text."""
    without = normalize._TIMESTAMPS.sub("", text)
    return " ".join(normalize._BETWEEN_TAGS.sub("><", without).split())


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=12).map("".join))
def test_fingerprints_are_those_of_always_searching(text: str) -> None:
    assert normalize.fingerprint(text) == always_searched(text)
