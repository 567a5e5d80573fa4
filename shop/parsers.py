"""Request body parsers: DRF's, with every malformed body a 400 and JSON numbers kept exact.

Every JSON body this API reads is an object: a body of another JSON type (`null`, a
number, a string, an array) is refused here, once, before any view or throttle looks
inside it expecting a mapping.
"""

import codecs
from decimal import Decimal

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import get_encoding
from rest_framework.utils import json


class JSONNumber(Decimal):
    """A JSON number with a fraction or an exponent, exact, with the text it was written as.

    Python's `json` reads `19.999999999999999999` as the float 20.0 and `1e309` as
    infinity: a price would be rounded silently and a string field would store
    "inf". As a decimal it stays what the client wrote, and `text` lets a field
    hold it to the same rule as the same value sent as a string (`1E2` is not a
    plain decimal). DRF's `CharField` refuses it (a string field needs a string).
    """

    def __new__(cls, text):
        number = super().__new__(cls, text)
        number.text = text
        return number


NOT_AN_OBJECT = "The request body must be a JSON object ({{...}}), not {kind}."
JSON_KINDS = {type(None): "null", bool: "a boolean", str: "a string", list: "an array"}


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with exact numbers (`JSONNumber`), a body nested deeper than
    Python's recursion limit a 400, not a 500 (`json` parses `[[[[…` recursively), and
    a body that is not a JSON object a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            # DRF's own charset rule (it refuses bytes-to-bytes codecs such as bz2).
            decoded = codecs.getreader(get_encoding(parser_context or {}))(stream)
            data = json.load(decoded, parse_float=JSONNumber)
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        if not isinstance(data, dict):
            raise ParseError(NOT_AN_OBJECT.format(kind=JSON_KINDS.get(type(data), "a number")))
        return data
