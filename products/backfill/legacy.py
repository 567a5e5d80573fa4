"""The old Express service's catalogue file: `Name,Metal Type,Price,Stone Type,Customizable?`.

It has no SKU: a product is named by what identifies it — its name, metal and
stone — and its SKU is derived from them (`derived_sku`), stably, so that
re-running the file changes nothing and two rows that differ only by metal are
two products. Prices are written as a shop writes them (`$1,250.00`, `$899.99`,
`$120`): a leading `$` and thousands separators are accepted in this format
only, after which the price rule of every other door applies. "Customizable?"
is a yes or no (empty: not known).
"""

import hashlib
import re
import unicodedata

from products.prices import price_problem

COLUMNS = ("name", "metal type", "price", "stone type", "customizable?")
SKU_PREFIX = "OLD-"
# Digits grouped by thousands with commas, then an optional fraction: 1,250.00 or 120.
GROUPED = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}


def is_legacy_header(names):
    """Whether the (trimmed, lower-cased) column names are the old service's file's."""
    return "sku" not in names and all(column in names for column in COLUMNS)


def derived_sku(name, metal, stone):
    """A stable SKU from the identifying columns: the same product gets the same SKU in
    every run, however its cells are spaced or cased."""
    key = "\x1f".join(_identity(value) for value in (name, metal, stone))
    return SKU_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:16].upper()


def _identity(value):
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def plain_price(written):
    """`(price, None)` as a plain decimal, or `(None, reason)`: `$1,250.00` → `1250.00`."""
    text = written.removeprefix("$").strip() if written.startswith("$") else written
    if GROUPED.fullmatch(text):
        text = text.replace(",", "")
    problem = price_problem(text)
    if problem is None:
        return text, None
    if written != text and not problem.startswith("missing"):
        problem = f"{problem} (read from {written!r})"
    return None, problem


def customizable(written):
    """`(True | False | None, None)` for a yes, a no or an empty cell, or `(None, reason)`."""
    answer = written.casefold()
    if answer == "":
        return None, None
    if answer in YES:
        return True, None
    if answer in NO:
        return False, None
    return None, f"customizable? must be yes or no, not {written[:40]!r}"
