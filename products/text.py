"""How catalogue text is cleaned: one rule for the backfill, the API and the admin.

Values are trimmed of whitespace (the non-breaking space included) and of
Unicode format characters (category Cf: the BOM, zero-width spaces and joiners,
direction marks), which a spreadsheet or a copy from a web page leaves at the
edges of a cell and which nobody can see. Inside a SKU such a character would
make a second, invisible product key, so it is refused there.
"""

import sys
import unicodedata
from functools import cache


@cache
def format_characters():
    """Every Unicode format character (category Cf), as a frozenset.

    Found by looking at every code point: about a third of a second, paid on the
    first non-ASCII value rather than by every process that imports this module.
    """
    return frozenset(
        chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cf"
    )


@cache
def _trimmed():
    whitespace = "".join(chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace())
    return whitespace + "".join(sorted(format_characters()))


def trim(value):
    """`value` without whitespace or invisible format characters at either end."""
    value = value.strip()
    # Format characters are never ASCII: the usual cell is done with the fast strip above.
    if value and (value[0] > "\x7f" or value[-1] > "\x7f"):
        return value.strip(_trimmed())
    return value


def invisible_characters(value):
    """The invisible format characters in `value`, as `U+200B, …`; "" when there are none."""
    if value.isascii():
        return ""
    hidden = format_characters()
    found = sorted({char for char in value if char in hidden})
    return ", ".join(f"U+{ord(char):04X}" for char in found)
