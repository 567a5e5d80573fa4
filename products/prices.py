"""The catalogue's price rule: a plain decimal >= 0 with at most 2 decimal places.

`products.services.clean_product` applies it to every way a price gets in (the
API, the admin, the CSV backfill); the products list's price filter reads its
parameters by it too (`price_error`).
"""

import re

MAX_PRICE_DIGITS = 10  # numeric(12, 2): 10 digits before the point

# A plain decimal: digits, optionally a point and one or two digits. Nothing else
# (no sign, exponent, NaN, thousands separator or currency symbol).
PLAIN_PRICE = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
# A plain decimal within the digits allowed (leading zeros aside): every acceptable price,
# told at once, as a catalogue file's million rows need.
ACCEPTABLE = re.compile(rf"0*[0-9]{{1,{MAX_PRICE_DIGITS}}}(?:\.[0-9]{{1,2}})?")
# A column of prices, each followed by a newline, every one acceptable: a whole column told
# in one match (half the work of matching each price on its own).
ACCEPTABLE_LINES = re.compile(rf"(?:(?:{ACCEPTABLE.pattern})\n)*+")
NUMBER_LIKE = re.compile(r"[0-9]*\.?[0-9]+")
TOO_MANY_DECIMALS = re.compile(r"[0-9]*\.[0-9]{3,}")
THOUSANDS = re.compile(r"[0-9]{1,3}(?:[,' _][0-9]{3})+(?:\.[0-9]+)?")


def price_problem(value):
    """Why `value` is not an acceptable price, or None when it is."""
    if ACCEPTABLE.fullmatch(value):
        return None
    if PLAIN_PRICE.fullmatch(value):
        return f"price {value} is too large (at most {MAX_PRICE_DIGITS} digits before the point)"
    if value == "":
        return "missing price"
    shown = value if len(value) <= 40 else value[:40] + "…"
    if value.startswith("-") and NUMBER_LIKE.fullmatch(value[1:]):
        return f"negative price {shown} (must be 0 or more)"
    if TOO_MANY_DECIMALS.fullmatch(value):
        return f"price {shown} has more than 2 decimal places"
    if THOUSANDS.fullmatch(value):
        return f"price {shown} has a thousands separator; write a plain decimal like 1234.50"
    return f"price {shown!r} is not a plain decimal number like 12.50"


def all_acceptable(values):
    """Whether `price_problem` finds nothing wrong with any of `values` (texts)."""
    if not values:
        return True
    lines = "\n".join(values) + "\n"
    # A value holding a newline would read as two prices: the count tells it.
    return lines.count("\n") == len(values) and ACCEPTABLE_LINES.fullmatch(lines) is not None


def price_error(value):
    """`price_problem` as a sentence for a form or an API field, or None."""
    problem = price_problem(value)
    return problem and problem[0].upper() + problem[1:] + "."
