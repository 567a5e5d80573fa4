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
def _tables():
    """`(format characters, trimmed characters)`: every Unicode format character (category
    Cf) as a frozenset, and those with every whitespace character as one string for
    `str.strip`.

    Found by looking at every code point once: about a third of a second, paid on the
    first non-ASCII value rather than by every process that imports this module.
    """
    hidden, whitespace = [], []
    for char in map(chr, range(sys.maxunicode + 1)):
        if unicodedata.category(char) == "Cf":
            hidden.append(char)
        elif char.isspace():
            whitespace.append(char)
    return frozenset(hidden), "".join(whitespace + hidden)


def trim(value):
    """`value` without whitespace or invisible format characters at either end."""
    value = value.strip()
    # Format characters are never ASCII: the usual cell is done with the fast strip above.
    if value and (value[0] > "\x7f" or value[-1] > "\x7f"):
        return value.strip(_tables()[1])
    return value


def invisible_characters(value):
    """The invisible format characters in `value`, as `U+200B, …`; "" when there are none."""
    if value.isascii():
        return ""
    hidden = _tables()[0]
    found = sorted({char for char in value if char in hidden})
    return ", ".join(f"U+{ord(char):04X}" for char in found)
