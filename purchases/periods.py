"""The analytics window and the list's date filters: ISO 8601 instants, half-open periods."""

from datetime import UTC, datetime

from django.utils import timezone

INSTANT_HELP = (
    "ISO 8601 date (`2024-05-01`, midnight in the shop's time zone, UTC by default) or "
    "datetime (`2024-05-01T12:30:00Z`; without an offset, in the shop's time zone)."
)


def parse_instant(text):
    """An aware datetime from an ISO 8601 date or datetime; `ValueError` when it is not one.

    A bare date means midnight at the start of that day, so that a window
    `[since, until)` of two dates holds whole days: `since=2024-05-01&until=2024-06-01`
    is May.
    """
    if not isinstance(text, str) or len(text) > 64:
        raise ValueError("not an ISO 8601 date or datetime")
    # Python 3.11 parses every ISO 8601 form a client is likely to send: dates,
    # `T` or space separators, fractions, `Z` and numeric offsets.
    parsed = datetime.fromisoformat(text.strip())
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    # The database stores UTC; an instant that has no UTC form (year 1 or 9999 shifted past
    # the calendar's end) is refused here rather than failing there.
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
