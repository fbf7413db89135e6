"""When something was seen, said as a person would say it, from the wearer's wall clock.

Within the hour, an age: "40 s ago", "12 minutes ago". Older, the clock time in the wearer's time
zone: "at 9:14 this morning", "at 18:02 yesterday", "on Monday at 9:14", "on 3 March at 9:14"
(with the year when it is not this year's). Memory keeps every keyframe's wall clock
(`recorded_at`), so a sighting from yesterday's replay is said as yesterday, whatever the session
clock of the question.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Callable

HOUR_S = 3600.0
# How an answerer says when: (session t then, its frame or None, session t now) -> "12 minutes ago".
# The assistant's says it from memory's wall clock (Assistant.said_when); SESSION_AGE from the session clock.
SaidWhen = Callable[[float, "int | None", float], str]


def ago_text(seconds: float) -> str:
    """An age within the hour: "40 s ago", "1 minute ago", "12 minutes ago"."""
    seconds = max(0.0, seconds)
    if seconds < 59.5:
        return f"{seconds:.0f} s ago"
    minutes = round(seconds / 60.0)
    return "1 minute ago" if minutes == 1 else f"{minutes} minutes ago"


def _part_of_day(hour: int) -> str:
    return "this morning" if hour < 12 else "this afternoon" if hour < 18 else "this evening"


def when_text(then_unix: float, now_unix: float, tz: tzinfo | None = None) -> str:
    """When `then_unix` was, seen from `now_unix` (both Unix s), in time zone tz (default: the
    machine's local one)."""
    age = now_unix - then_unix
    if age < HOUR_S:
        return ago_text(age)
    then = datetime.fromtimestamp(then_unix, tz).astimezone(tz)
    now = datetime.fromtimestamp(now_unix, tz).astimezone(tz)
    clock = f"{then.hour}:{then.minute:02d}"
    days = (now.date() - then.date()).days
    if days == 0:
        return f"at {clock} {_part_of_day(then.hour)}"
    if days == 1:
        return f"at {clock} yesterday"
    if days < 7:
        return f"on {then.strftime('%A')} at {clock}"
    year = "" if then.year == now.year else f" {then.year}"
    return f"on {then.day} {then.strftime('%B')}{year} at {clock}"


def session_age(then_t: float, frame: int | None, now_t: float) -> str:
    """The default SaidWhen: the age on the session's own clock."""
    return ago_text(now_t - then_t)
