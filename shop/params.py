"""How numbers are read from paths and query strings: one rule for every parameter.

An integer is written in ASCII digits (an optional `-` where negatives make
sense). `int()` would also take `+1`, ` 1`, `1_0` and other scripts' digits
(full-width ones), so each id or page would have several spellings, and a
body's rule (JSON integers) would differ from the query string's.
"""

import re

from django import forms

INTEGER = re.compile(r"-?[0-9]+")
# The database's keys are 64-bit: SQLite cannot even compare past them.
MIN_BIGINT, MAX_BIGINT = -(2**63), 2**63 - 1


def is_ascii_digits(text):
    """`text` is one or more ASCII digits and nothing else."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


class IntegerField(forms.IntegerField):
    """A form field (for django-filter) taking an integer only as `-?[0-9]+`.

    `1.0`, `1e3`, `+1` and full-width digits are refused, not read as numbers.
    """

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value).strip()
        if not INTEGER.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)
