"""When an answer says the item was seen: an age within the hour, else the wearer's clock time."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from device.answering.when import ago_text, when_text

TZ = timezone(timedelta(hours=1))
NOW = datetime(2026, 12, 7, 15, 30, tzinfo=TZ)  # a Monday afternoon


def said(then: datetime) -> str:
    return when_text(then.timestamp(), NOW.timestamp(), TZ)


@pytest.mark.parametrize("then, text", [
    (NOW - timedelta(seconds=9), "9 s ago"),
    (NOW - timedelta(seconds=80), "1 minute ago"),
    (NOW - timedelta(minutes=42, seconds=10), "42 minutes ago"),
    (datetime(2026, 12, 7, 9, 14, tzinfo=TZ), "at 9:14 this morning"),
    (datetime(2026, 12, 7, 13, 5, tzinfo=TZ), "at 13:05 this afternoon"),
    (datetime(2026, 12, 6, 21, 40, tzinfo=TZ), "at 21:40 yesterday"),
    (datetime(2026, 12, 3, 8, 0, tzinfo=TZ), "on Thursday at 8:00"),
    (datetime(2026, 11, 3, 8, 0, tzinfo=TZ), "on 3 November at 8:00"),
    (datetime(2025, 3, 3, 8, 0, tzinfo=TZ), "on 3 March 2025 at 8:00"),
])
def test_said_as_a_person_would(then: datetime, text: str) -> None:
    assert said(then) == text


def test_the_clock_is_the_wearers_time_zone() -> None:
    """The same instant is this morning in one zone and yesterday evening in another."""
    then = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)
    assert when_text(then.timestamp(), NOW.timestamp(), TZ) == "at 7:00 this morning"
    west = timezone(timedelta(hours=-8))
    assert when_text(then.timestamp(), NOW.timestamp(), west) == "at 22:00 yesterday"


def test_no_negative_ages() -> None:
    assert ago_text(-3.0) == "0 s ago"
