"""The wearer's privacy commands, "pause" and "resume": exact phrasings only. A guess (the intent
classifier's paraphrase stage) must never stop or start keeping what the glasses see."""

from __future__ import annotations

import re

from device.speech.intents import clean_text

# Privacy commands: exact phrasings only (a guess must never stop or start keeping frames).
_PAUSE = re.compile(r"^(?:please\s+)?(?:pause|stop\s+(?:recording|remembering|watching|looking))"
                    r"(?:\s+(?:please|for\s+now|for\s+a\s+while))?$")
_RESUME = re.compile(r"^(?:please\s+)?(?:resume|unpause|(?:start|keep)\s+(?:recording|remembering|watching)"
                     r"(?:\s+again)?|you\s+can\s+(?:look|watch|remember)\s+again)(?:\s+please)?$")


def privacy_command(text: str) -> str | None:
    """"pause" or "resume" for the wearer's exact privacy commands ("pause", "stop recording",
    "resume", "start recording again"), else None."""
    clean = clean_text(text).strip(" .!,")
    return "pause" if _PAUSE.match(clean) else "resume" if _RESUME.match(clean) else None
