"""Parse the dates feeds state: RFC 822 and RFC 3339 variants, into timezone-aware UTC.

feedparser's own parser is the last resort, not the first: it reads an unknown
zone name (CEST, BST, AEST...) as UTC, loses the time of compact ISO 8601
(`20250703T143000Z`) and gives up on RFC 822 without a zone or with a full
weekday (RFC 850). The rules here:

- RFC 3339 / ISO 8601 in any of its usual shapes (`T` or space, `Z` or
  `+02:00` or `+0200`, fractions, basic format);
- RFC 822 / RFC 2822 / RFC 850 / asctime, full or abbreviated month and day
  names, two-digit years (00-49 are 20xx, 50-99 are 19xx, as RFC 2822 says),
  numeric zones with or without a colon, and the named zones in `ZONES`;
- anything else python-dateutil understands with day, month and year all
  present ("July 3, 2025 2:30 PM");
- no zone at all means UTC; an unknown zone name also reads as UTC;
- out-of-range values (31 February, 25:00) and years before 1900 are invalid:
  the entry keeps no date and takes its first-seen time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from dateutil import parser as dateutil_parser

# Zone abbreviations seen in feeds, in hours east of UTC. Where a name is ambiguous, the
# reading most feeds mean wins (CST is US Central, IST is India, BST is British Summer).
ZONES: dict[str, float] = {
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": 1,
    "BST": 1,
    "IST": 5.5,
    "CET": 1,
    "CEST": 2,
    "MET": 1,
    "MEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "SAST": 2,
    "WAT": 1,
    "EAT": 3,
    "PKT": 5,
    "ICT": 7,
    "WIB": 7,
    "SGT": 8,
    "HKT": 8,
    "AWST": 8,
    "JST": 9,
    "KST": 9,
    "ACST": 9.5,
    "ACDT": 10.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "HST": -10,
    "AKST": -9,
    "AKDT": -8,
    "PST": -8,
    "PDT": -7,
    "MST": -7,
    "MDT": -6,
    "CST": -6,
    "CDT": -5,
    "EST": -5,
    "EDT": -4,
    "AST": -4,
    "ADT": -3,
    "NST": -3.5,
    "NDT": -2.5,
    "BRT": -3,
    "ART": -3,
    "CLT": -4,
}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_ZONE = r"(?P<zone>[+-]\d{2}:?\d{2}|[A-Za-z]{1,5})"
_TIME = r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
# "Thu, 03 Jul 2025 14:30:00 +0200", "Thursday, 03-Jul-25 14:30 GMT", "3 July 2025 14:30"
_RFC822 = re.compile(
    r"^(?:[A-Za-z]+,?\s+)?(?P<day>\d{1,2})[\s-]+(?P<month>[A-Za-z]{3,9})\.?,?[\s-]+"
    rf"(?P<year>\d{{2}}|\d{{4}}),?\s+{_TIME}(?:\s*{_ZONE})?(?:\s*\([^)]*\))?$"
)
# asctime: "Thu Jul  3 14:30:00 2025"
_ASCTIME = re.compile(
    rf"^[A-Za-z]+\s+(?P<month>[A-Za-z]{{3,9}})\s+(?P<day>\d{{1,2}})\s+{_TIME}\s+(?P<year>\d{{4}})$"
)
_ISO_LOOSE = re.compile(r"[Tt ]+")
_ISO_SHAPE = re.compile(r"^\d{4}-?\d{2}-?\d{2}")
_FIRST_YEAR = 1900
# Two defaults that differ in every date field: what dateutil fills in differs between them.
_PROBES = (datetime(2000, 1, 1), datetime(2001, 2, 2))


def parse_date(text: str | None, *, fallback: datetime | None = None) -> datetime | None:
    """`text` as a timezone-aware UTC datetime, or None when it is no valid date.

    `fallback` (what another parser made of `text`) is taken only when `text` has none
    of the shapes known here: a known shape with impossible values is no date at all.
    """
    if not text or not (value := " ".join(text.split())):
        return None
    try:
        moment = _iso(value) or _rfc822(value) or _free_form(value)
    except (ValueError, OverflowError):
        moment = None
    if moment is None and not _ISO_SHAPE.match(value) and not _rfc822_shape(value):
        moment = fallback
    if moment is None or moment.year < _FIRST_YEAR:
        return None
    return moment


def _iso(value: str) -> datetime | None:
    if not value[:4].isdigit():
        return None
    date_part, _, rest = _ISO_LOOSE.sub("T", value, count=1).partition("T")
    # fromisoformat rejects "+0200" after a space and lowercase "z"; normalise those.
    rest = rest.replace(" ", "").upper()
    try:
        moment = datetime.fromisoformat(f"{date_part}T{rest}" if rest else date_part)
    except ValueError:
        return None
    return _utc(moment)


def _rfc822_shape(value: str) -> re.Match[str] | None:
    return _RFC822.match(value) or _ASCTIME.match(value)


def _rfc822(value: str) -> datetime | None:
    found = _rfc822_shape(value)
    if not found:
        return None
    month = _MONTHS.get(found["month"][:3].lower())
    if month is None:
        return None
    year = int(found["year"])
    if len(found["year"]) == 2:
        year += 2000 if year < 50 else 1900
    moment = datetime(
        year,
        month,
        int(found["day"]),
        int(found["hour"]),
        int(found["minute"]),
        int(found["second"] or 0),
        tzinfo=_zone(found.groupdict().get("zone")),
    )
    return moment.astimezone(UTC)


def _free_form(value: str) -> datetime | None:
    """Other shapes ("July 3, 2025"), only when day, month and year are all there."""
    zones = {name: int(hours * 3600) for name, hours in ZONES.items()}
    try:
        first, second = (
            dateutil_parser.parse(value, default=probe, tzinfos=zones) for probe in _PROBES
        )
    except (dateutil_parser.ParserError, ValueError, OverflowError):
        return None
    if (first.year, first.month, first.day) != (second.year, second.month, second.day):
        return None
    return _utc(first)


def _zone(name: str | None) -> timezone:
    if not name:
        return UTC
    if name[0] in "+-":
        digits = name[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return timezone(-offset if name[0] == "-" else offset)
    return timezone(timedelta(hours=ZONES.get(name.upper(), 0)))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
