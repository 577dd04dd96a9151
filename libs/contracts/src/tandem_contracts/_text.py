"""Text that PostgreSQL and UTF-8 can hold: no NUL, no unpaired surrogate.

JSON can carry both as escapes (``\\u0000``, a lone ``\\ud800``) that Python's ``json`` decodes
without complaint; the first fails in PostgreSQL (``text`` and ``jsonb`` refuse it), the second
when the string is encoded to UTF-8. Every ingress checks raw JSON with ``unsafe_json`` before
decoding it, and text it did not get as JSON (paths, query strings, headers) with
``unsafe_text``, so such input is refused with a reason instead of failing deep inside.
"""

from __future__ import annotations

import re

__all__ = ["unsafe_json", "unsafe_text"]

# A \uXXXX escape preceded by an even number of backslashes (an odd one escapes the backslash).
_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u([0-9a-fA-F]{4})")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def unsafe_json(raw: bytes) -> str | None:
    """Say what makes a JSON text unsafe to store (a NUL or an unpaired surrogate escape), or
    return ``None``. Raw control characters and invalid UTF-8 are left to the JSON parser,
    which refuses both."""
    if b"\\u" not in raw and b"\\U" not in raw:
        return None
    high_at = -1  # end offset of a high surrogate still waiting for its low half
    for match in _ESCAPE.finditer(raw):
        code = int(match[1], 16)
        start = match.end() - 6
        if high_at >= 0:
            if start != high_at or not 0xDC00 <= code <= 0xDFFF:
                return "a string holds an unpaired surrogate escape"
            high_at = -1
            continue
        if code == 0:
            return "a string holds a NUL character (\\u0000)"
        if 0xD800 <= code <= 0xDBFF:
            high_at = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            return "a string holds an unpaired surrogate escape"
    if high_at >= 0:
        return "a string holds an unpaired surrogate escape"
    return None


def unsafe_text(value: str) -> str | None:
    """Say what makes text unsafe to store (a NUL or a surrogate code point), or return
    ``None``. Other control characters are stored as they come: PostgreSQL holds them, JSON
    logs escape them, and refusing them would refuse text a system of record really has."""
    if (found := _UNSTORABLE.search(value)) is None:
        return None
    kind = "NUL character" if found[0] == "\x00" else "surrogate code point"
    return f"{kind} (U+{ord(found[0]):04X}) at offset {found.start()}"
