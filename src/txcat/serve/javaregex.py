"""Java's regular expressions and number texts, as Spark evaluates them, for Python's `re`.

The batch job's cleaning is Spark expressions: `rlike` and `regexp_extract` are Java regular
expressions, casts go through Java's number parsing and printing. The real-time path runs the
same patterns (imported from `txcat.read`, `txcat.clean` and `txcat.features.row`) in Python, so
the few places where the two engines differ are bridged here, once:

- `$` (without MULTILINE) also matches before a line terminator that ends the input, and Java's
  line terminators are `\\r\\n`, `\\r`, `\\n`, U+0085, U+2028 and U+2029 (Python: `\\n` only);
- `\\d`, `\\s`, `\\D` are ASCII classes in Java (Unicode in Python);
- `(?i)` folds ASCII letters only in Java;
- a double prints as `Double.toString` does (`1.0E7`, `12.5`), and rounds as Spark's `round`
  (HALF_UP on the double's shortest decimal text).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

#: Java's `$`: the end of the input, or before one line terminator that ends it.
_JAVA_END = r"(?=(?:\r\n|[\n\r\u0085\u2028\u2029])?\Z)"


@cache
def compiled(pattern: str, ascii_classes: bool = True) -> re.Pattern[str]:
    """A Java pattern (as given to Spark's `rlike`) compiled for Python with Java's meaning.

    `ascii_classes` keeps `\\d`, `\\s`, `\\w` ASCII, as Java's are; a pattern with `\\b` is
    compiled without it (Java 17's `\\b` sees Unicode letters), its `(?i)` folding ASCII only.
    """
    flags = re.ASCII if ascii_classes else 0
    body = pattern
    if body.startswith("(?i)"):
        body = _ascii_case_insensitive(body[4:])
    return re.compile(_java_ends(body), flags)


def _java_ends(pattern: str) -> str:
    """Replaces each unescaped `$` outside a character class by Java's end anchor."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(_JAVA_END)
        else:
            out.append(char)
    return "".join(out)


def _ascii_case_insensitive(pattern: str) -> str:
    """Each ASCII letter outside an escape or a class as `[xX]` (Java's `(?i)` folding)."""
    out: list[str] = []
    escaped = in_class = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "]":
            in_class = False
            out.append(char)
        elif not in_class and char.isascii() and char.isalpha():
            out.append(f"[{char.lower()}{char.upper()}]")
        else:
            out.append(char)
    return "".join(out)


def rlike(pattern: str, text: str | None, ascii_classes: bool = True) -> bool | None:
    """Spark's `text rlike pattern` (a search); None for a null text."""
    if text is None:
        return None
    return compiled(pattern, ascii_classes).search(text) is not None


def spark_trim(text: str | None) -> str | None:
    """Spark's `trim`: ASCII spaces only."""
    return None if text is None else text.strip(" ")


_DOUBLE_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


def parse_double(text: str | None) -> float | None:
    """Spark's cast of a plain decimal text (digits, one `.`, a sign) to a double.

    Java trims characters up to U+0020 around the number; anything else left makes it null.
    Beyond a double's range the value is ±inf, as in Java.
    """
    if text is None:
        return None
    core = text.strip("".join(map(chr, range(0x21))))
    if not _DOUBLE_TEXT.fullmatch(core):
        return None
    return float(core)


def to_string(value: float) -> str:
    """Java's `Double.toString` (what Spark's cast of a double to a string prints)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    shown = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + int(exponent) - 1
    mantissa = shown[0] + "." + (shown[1:] or "0")
    return ("-" if sign else "") + f"{mantissa}E{power}"


def round_half_up(value: float, scale: int) -> float:
    """Spark's `round(double, scale)`: HALF_UP on the double's decimal text."""
    if math.isnan(value) or math.isinf(value):
        return value
    quantum = Decimal(1).scaleb(-scale)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def decimal_text(value: float, scale: int) -> str:
    """Spark's `cast(round(x, scale) as decimal(20, scale)) as string`: `54.40`, `0.00`."""
    rounded = Decimal(repr(round_half_up(value, scale))).quantize(
        Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP
    )
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:f}"
