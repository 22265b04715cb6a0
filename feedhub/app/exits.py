"""The exit codes every `feedhub` command keeps: one table, shown by `--help` and the README."""

from __future__ import annotations

import textwrap

OK = 0
FAILED = 1
BAD_INPUT = 2
STOPPED = 128  # plus the signal's number: 130 after SIGINT (Ctrl-C), 143 after SIGTERM

# (code, meaning): the README's "Exit codes" table holds the same rows, word for word.
TABLE = (
    ("0", "success"),
    (
        "1",
        "a failure that may pass if you try again: `status` found a failing or gone source, "
        "`sources add` could not reach the URL (network, timeout, 5xx), the store "
        "cannot be opened or written",
    ),
    (
        "2",
        "bad input, fix it and try again: the config, a command's arguments or options, "
        "an unknown source or category, a URL that is no feed (or answers 4xx, or is on "
        "a private network it may not reach), a refused edit",
    ),
    (
        "130, 143",
        "stopped by SIGINT (Ctrl-C) or SIGTERM (128 + the signal); `run --once` gives "
        "back what it did not finish, for the next run (`run` and `serve` exit 0 on these)",
    ),
)


def help_text() -> str:
    """The table for `feedhub --help` (click keeps lines after its "\\b" marker as they are)."""
    rows = (
        textwrap.fill(meaning, 78, initial_indent=f"  {code:<9} ", subsequent_indent=" " * 12)
        for code, meaning in TABLE
    )
    return "\b\nExit codes:\n" + "\n".join(rows)
