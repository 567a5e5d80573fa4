"""CSV exports: every row of a list, streamed, for the API and the admin alike.

A resource declares only its columns, `{header: source}`, where a source is a
field lookup read with `values_list` (`"id"`, `"user_id"`) or a `Computed` cell
(`Computed(operator.mul, "unit_price", "quantity")`). `csv_response()` streams a
queryset under those columns; `CSVExportMixin` gives a DRF list view a `text/csv`
answer (`Accept: text/csv` or `?format=csv`) that streams every matching row
instead of a page.

The format: UTF-8 without a byte order mark, RFC 4180 (comma, double quotes
where needed, CRLF), one header row. Decimals with 2 places (`12.50`),
datetimes in ISO 8601 in the shop's time zone (`2024-05-01T09:30:00Z`), empty
for null, as in the JSON. A text cell a spreadsheet would run as a formula
(beginning with `=`, `+`, `-`, `@`, a tab or a carriage return: OWASP's "CSV
injection") gets a leading single quote; the numbers we write are never negative.
"""

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from itertools import islice
from operator import itemgetter

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response

from shop.replica import stream_report

# Rows read from the database at a time (a server-side cursor's fetch on PostgreSQL),
# and written to the client at a time: memory stays flat whatever the row count.
CHUNK_ROWS = 2000

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


class Computed:
    """A cell computed in Python from fields of the row, e.g. a total from price and quantity.

    In Python rather than in SQL so that it is exact on SQLite too (which keeps
    decimals as floats) and the same as what the JSON object says.
    """

    def __init__(self, function, *fields):
        self.function = function
        self.fields = fields


def text_cell(value):
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def decimal_cell(value):
    return f"{value:.2f}"


def cell_formats():
    """How each Python type read from the database is written, by exact type."""
    zone = timezone.get_current_timezone()

    def datetime_cell(value):
        # As DRF writes a datetime in JSON: in the current time zone, UTC as `Z`.
        if value.tzinfo is not None:
            value = value.astimezone(zone)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return {
        str: text_cell,
        Decimal: decimal_cell,
        datetime: datetime_cell,
        date: date.isoformat,
        bool: lambda value: "true" if value else "false",
    }


def export_rows(queryset, columns):
    """The rows of `queryset` as lists of cells under `columns`, read `CHUNK_ROWS` at a time.

    `values_list` and a chunked iterator: no model instance and no serializer per row,
    and a server-side cursor on PostgreSQL, so memory does not grow with the rows.
    """
    fields = []
    for source in columns.values():
        for field in source.fields if isinstance(source, Computed) else (source,):
            if field not in fields:
                fields.append(field)
    reads = [_read(queryset, field) for field in fields]
    values = [_value(index, parse) for index, (_, parse) in enumerate(reads)]
    getters = [_getter(source, fields, values) for source in columns.values()]
    # The usual case, every column a field in order and read as it is: the row is the cells.
    as_read = list(columns.values()) == fields and not any(parse for _, parse in reads)
    formats = cell_formats().get
    selected = [selection for selection, _ in reads]
    for row in queryset.values_list(*selected).iterator(chunk_size=CHUNK_ROWS):
        # Each cell by its type: a text cell is neutralised, a number is written as is.
        yield [
            value if (write := formats(type(value))) is None else write(value)
            for value in (row if as_read else [get(row) for get in getters])
        ]


def _read(queryset, field):
    """What to select for `field`, and what turns the value read into the field's (or None).

    On PostgreSQL a date and time is selected as its text and parsed by Python's
    `datetime.fromisoformat` (C): Django reads `timestamptz` with psycopg's pure-Python
    parser (a regular expression per value), which took a third of a large export's
    time. The text is ISO 8601 with its UTC offset (PostgreSQL's default DateStyle, the
    only one psycopg itself reads timestamps in), so it parses to the same instant.
    """
    if connections[queryset.db].vendor == "postgresql" and "__" not in field:
        try:
            model_field = queryset.model._meta.get_field(field)
        except FieldDoesNotExist:  # an annotation
            model_field = None
        if isinstance(model_field, models.DateTimeField):
            return Cast(field, models.TextField()), _datetime_from_text
    return field, None


def _datetime_from_text(text):
    return None if text is None else datetime.fromisoformat(text)


def _value(index, parse):
    """How the value of the `index`th field selected is taken from a row."""
    if parse is None:
        return itemgetter(index)
    return lambda row: parse(row[index])


def _getter(source, fields, values):
    """How a column's value is taken from a row, given how each field's value is taken."""
    if not isinstance(source, Computed):
        return values[fields.index(source)]
    function, reads = source.function, [values[fields.index(field)] for field in source.fields]
    if len(reads) == 2:  # the usual shape (price and quantity), without a loop per row
        first, second = reads
        return lambda row: function(first(row), second(row))
    return lambda row: function(*[read(row) for read in reads])


def csv_chunks(headers, rows):
    """The CSV text of a header row and `rows`, as UTF-8 bytes, `CHUNK_ROWS` rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: commas, quotes doubled, CRLF line ends
    writer.writerow(headers)
    yield buffer.getvalue().encode()
    while True:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(islice(rows, CHUNK_ROWS))
        chunk = buffer.getvalue()
        if not chunk:
            return
        yield chunk.encode()


def csv_response(queryset, columns, filename):
    """A `text/csv` attachment of every row of `queryset` under `columns`, streamed.

    An export is a report: it reads the replica when there is one and its first query
    there answers, else the primary (`shop.replica.stream_report`).
    """
    rows = stream_report(lambda alias: export_rows(queryset.using(alias), columns))
    response = StreamingHttpResponse(
        csv_chunks(list(columns), rows),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


class CSVRenderer(BaseRenderer):
    """`text/csv`, which DRF's content negotiation picks for `Accept: text/csv` or `?format=csv`.

    The lists that export (`CSVExportMixin`) stream their rows past it; a view that
    returns a `Response` of objects gets them written here, one column per key.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data if isinstance(data, list) else [data]
        headers = list(rows[0]) if rows else []
        formats = cell_formats().get
        cells = (
            [value if (write := formats(type(value))) is None else write(value) for value in row]
            for row in ([row.get(header) for header in headers] for row in rows)
        )
        return b"".join(csv_chunks(headers, cells))


class CSVExportMixin:
    """A DRF list view that also answers `text/csv`: every matching row, not one page.

    Set `export_columns` (`{header: field lookup or Computed}`) and `export_filename`.
    The rows are the JSON list's: `self.filter_queryset(self.get_queryset())`, so the
    same owner scoping and filters apply. Only the `list` action offers CSV: elsewhere
    `Accept: text/csv` is 406, as for any media type a view does not render.
    """

    export_columns = None
    export_filename = None

    def get_renderers(self):
        renderers = super().get_renderers()
        if getattr(self, "action", None) == "list":
            renderers.append(CSVRenderer())
        return renderers

    def list(self, request, *args, **kwargs):
        if isinstance(request.accepted_renderer, CSVRenderer):
            queryset = self.filter_queryset(self.get_queryset())
            return csv_response(queryset, self.export_columns, self.export_filename)
        return super().list(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever was asked for: a 401, 403 or 400 asked
        # for as CSV is answered by the view's first renderer, JSON.
        if (
            isinstance(response, Response)
            and response.exception
            and isinstance(getattr(request, "accepted_renderer", None), CSVRenderer)
        ):
            request.accepted_renderer = self.get_renderers()[0]
            request.accepted_media_type = request.accepted_renderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)
