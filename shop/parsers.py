"""Request body parsers: DRF's, with every malformed body a 400."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python's recursion limit is a 400, not a 500.

    `json` parses arrays and objects recursively, so a ~2 KB body of `[[[[…` raises
    `RecursionError`, which DRF does not treat as a parse error.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
