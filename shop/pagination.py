"""Pagination in headers, so that list bodies stay the JSON arrays old clients expect.

Two ways through a list, answered alike (an array; `X-Total-Count` and `Link`):

- `?page=N`: an offset, which the database pays for row by row, so it is only taken to
  `MAX_PAGE_OFFSET` rows deep;
- `?cursor=…`: a keyset position (the sort key of a row, and a direction), which the
  database reaches straight through the list's index at any depth. The `Link` header of
  a long list names cursors, so a client that follows it never pays for depth.

A total is counted exactly up to `EXACT_COUNT_LIMIT` rows (a count that stops there);
past it, it is the planner's estimate, marked `X-Total-Count-Estimated: true`.
docs/api.md says exactly what a client gets.
"""

import base64
import binascii
import json
from datetime import datetime

from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connections
from django.db.models import Q
from django.utils import timezone
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from shop.params import is_ascii_digits

# Past this many rows a total is estimated: a count reads every row it counts.
EXACT_COUNT_LIMIT = 1_000
# The deepest offset `page` reaches: skipping a row costs about as much as reading it.
MAX_PAGE_OFFSET = 10_000


class KeysetCursor:
    """A position in a list: the rows `after` (or before) the row whose sort key is `values`.

    `values` None means the end of the list: `before` it is the last page. Encoded as
    URL-safe base64 of JSON; anything a client makes of it is checked on the way back in.
    """

    def __init__(self, *, after, values):
        self.after = after
        self.values = values

    @classmethod
    def end(cls):
        return cls(after=False, values=None)

    def encode(self):
        text = json.dumps({"after": self.after, "key": self.values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text):
        """The cursor `text` encodes, or None when it is not one."""
        try:
            data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("after"), bool):
            return None
        key = data.get("key")
        if key is None and not data["after"]:
            return cls.end()
        if not isinstance(key, list) or not all(isinstance(v, str | int) for v in key):
            return None
        return cls(after=data["after"], values=key)


def bounded_count(queryset, limit):
    """The number of rows, counted up to `limit + 1` (never more rows are read)."""
    return queryset.order_by()[: limit + 1].count()


def estimated_count(queryset):
    """The planner's estimate of the rows of `queryset` (PostgreSQL), or None elsewhere."""
    if connections[queryset.db].vendor != "postgresql":
        return None
    try:
        plan = queryset.order_by().explain(format="json")
    except EmptyResultSet:
        return 0
    if not plan:  # a query Django knows to be empty (`pk__in=[]`) is never sent
        return 0
    return int(json.loads(plan)[0]["Plan"]["Plan Rows"])


def count_rows(queryset, limit, *, estimate_first=False, count_up_to=bounded_count):
    """(total, long, estimated).

    The rows are counted up to `limit + 1` (a count reads every row it counts): at most
    `limit`, the total is exact; more makes the list `long`, and its total the planner's
    estimate (at least `limit + 1`, which is known) where the database estimates
    (PostgreSQL), else a full count.

    `estimate_first` asks the planner before counting: a list it expects to hold more than
    `limit` rows is `long` without a count. Where filters have no index (the admin's), even
    a bounded count of a rare value reads the table to find its rows; an API list's filters
    all have one, and save the planning query. `count_up_to(queryset, limit)` counts (by
    default a bounded count; a caller may read what it needs of the rows on the way).
    """
    estimate = estimated_count(queryset) if estimate_first else None
    if estimate is not None and estimate > limit:
        return estimate, True, True
    counted = count_up_to(queryset, limit)
    if counted <= limit:
        return counted, False, False
    if estimate is None:
        estimate = estimated_count(queryset)
    if estimate is None:
        return queryset.order_by().count(), True, False
    return max(estimate, limit + 1), True, True


class Keyset:
    """The sort of a queryset as (field, descending) pairs ending in the primary key, or
    None when it cannot be a keyset (an expression, a nullable column)."""

    def __init__(self, queryset):
        self.queryset = queryset
        self.fields = self.sort_fields(queryset)

    @staticmethod
    def sort_fields(queryset):
        model = queryset.model
        query = queryset.query
        ordering = list(query.order_by or (model._meta.ordering if query.default_ordering else ()))
        fields = []
        for term in ordering:
            if not isinstance(term, str):
                return None
            name = term.lstrip("-")
            field = model._meta.pk if name == "pk" else model._meta.get_field(name)
            if field.null or field.is_relation:
                return None
            fields.append((field, term.startswith("-")))
        if not fields or not fields[-1][0].primary_key:
            return None  # the key must be unique: nothing else here guarantees it
        return fields

    def key_of(self, row):
        """The JSON-safe sort key of `row`."""
        values = []
        for field, _ in self.fields:
            value = field.value_from_object(row)
            values.append(value if isinstance(value, int) else field.value_to_string(row))
        return values

    def page(self, cursor, size):
        """(rows, more): up to `size` rows at `cursor` in list order; `more` says whether
        rows lie beyond the page in the cursor's direction."""
        queryset = self.queryset
        if cursor.values is not None:
            queryset = queryset.filter(self.beyond(cursor))
        if not cursor.after:
            queryset = queryset.reverse()
        rows = list(queryset[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if not cursor.after:
            rows.reverse()
        return rows, more

    def beyond(self, cursor):
        """Rows strictly after (or before) the key: `(a, b) > (x, y)` spelt so that the
        leading column bounds an index range (`a >= x AND (a > x OR (a = x AND b > y)))`."""
        values = self.clean(cursor.values)
        strictly = Q()
        for position in range(len(self.fields) - 1, -1, -1):
            field, descending = self.fields[position]
            lookup = "lt" if descending == cursor.after else "gt"
            step = Q(**{f"{field.attname}__{lookup}": values[position]})
            if position < len(self.fields) - 1:
                step |= Q(**{field.attname: values[position]}) & strictly
            strictly = step
        field, descending = self.fields[0]
        leading = "lte" if descending == cursor.after else "gte"
        return Q(**{f"{field.attname}__{leading}": values[0]}) & strictly

    def clean(self, values):
        if len(values) != len(self.fields):
            raise ParseError("Invalid cursor.")
        cleaned = []
        try:
            for (field, _), value in zip(self.fields, values, strict=True):
                value = field.to_python(value)
                field.run_validators(value)  # an integer past the column's range, too
                if isinstance(value, datetime) and timezone.is_naive(value):
                    raise ValidationError("A naive datetime.")
                cleaned.append(value)
        except (ValidationError, TypeError, ValueError, OverflowError):
            raise ParseError("Invalid cursor.") from None
        return cleaned


class HeaderPagination(PageNumberPagination):
    """`?page=N&page_size=M` or `?cursor=…&page_size=M`; the body is the page's array.

    Headers: `X-Total-Count` (with `X-Total-Count-Estimated: true` past
    `EXACT_COUNT_LIMIT` rows) and an RFC 8288 `Link` with `first`, `prev`, `next`
    and `last`. A list whose total is exact links page numbers, as it always did;
    a longer one links cursors (`first` stays the bare URL).

    `page` is a number in ASCII digits or `last`; anything else, and a page past the
    end of an exactly counted list, is 404 like any missing resource. A page deeper
    than `MAX_PAGE_OFFSET` rows of a longer list is 400, pointing to the cursor;
    `page=last` is served from the end, through the keyset. `page_size` is capped at
    1000; one that is not ASCII digits is ignored (the default applies).
    """

    page_size_query_param = "page_size"
    max_page_size = 1000
    cursor_query_param = "cursor"
    exact_count_limit = EXACT_COUNT_LIMIT
    max_page_offset = MAX_PAGE_OFFSET
    # Filters that test each row (a search in text) rather than read an index range: the
    # planner is asked first, and a short list is read once for its count and its page.
    estimate_first_params = ("search",)

    @classmethod
    def requested_page(cls, request):
        """The `page` asked for: a number, `"last"`, or None when it can never be a page."""
        page = request.query_params.get(cls.page_query_param) or "1"
        if page in cls.last_page_strings:
            return "last"
        if is_ascii_digits(page) and int(page) >= 1:
            return int(page)
        return None

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.size = self.get_page_size(request)
        self.keyset = Keyset(queryset)
        if self.keyset.fields is None:
            self.keyset = None
        self.keys = None
        if any(request.query_params.get(name) for name in self.estimate_first_params):
            self.total, self.long, self.estimated = self.count_matches(queryset)
        else:
            self.total, self.long, self.estimated = count_rows(queryset, self.exact_count_limit)
        self.cursor = None
        self.links = None
        asked_cursor = request.query_params.get(self.cursor_query_param)
        if asked_cursor is not None and self.keyset is not None:
            cursor = KeysetCursor.decode(asked_cursor)
            if cursor is None:
                raise ParseError("Invalid cursor.")
            return self.keyset_page(cursor)
        page_number = self.requested_page(request)
        if page_number == "last" and self.long and self.keyset is not None:
            return self.keyset_page(KeysetCursor.end())
        return self.numbered_page(queryset, page_number)

    def count_matches(self, queryset):
        """(total, long, estimated) of a list whose every match costs a test: the planner's
        estimate where it expects more than `exact_count_limit` rows, else the keys of every
        row in list order (at most `exact_count_limit + 1`), which count the list and give
        the page without reading the matches again (`self.keys`)."""

        def keys_up_to(queryset, limit):
            keys = list(queryset.values_list("pk", flat=True)[: limit + 1])
            if len(keys) <= limit:
                self.keys = keys
            return len(keys)

        return count_rows(
            queryset, self.exact_count_limit, estimate_first=True, count_up_to=keys_up_to
        )

    def numbered_page(self, queryset, page_number):
        asked = self.request.query_params.get(self.page_query_param, "")
        if page_number is None:
            raise NotFound(f"Invalid page {asked[:20]!r}.")
        last_page = max(1, -(-self.total // self.size))
        if page_number == "last":
            page_number = last_page
        if not self.long and page_number > last_page:
            raise NotFound(f"Invalid page {asked[:20]!r}.")
        offset = (page_number - 1) * self.size
        if offset > self.max_page_offset:
            raise ParseError(
                f"Pages reach {self.max_page_offset:,} rows deep; go further with the cursor "
                "links of the Link header (rel=next, rel=last)."
            )
        if self.keys is not None:
            # The list's keys are known: this page's rows by primary key, in list order.
            queryset = queryset.filter(pk__in=self.keys[offset : offset + self.size + 1])
            offset = 0
        rows = list(queryset[offset : offset + self.size + 1])
        has_next = len(rows) > self.size
        rows = rows[: self.size]
        if not rows and page_number > 1:
            raise NotFound(f"Invalid page {asked[:20]!r}.")
        self.links = self.numbered_links(page_number, last_page, has_next, rows)
        return rows

    def keyset_page(self, cursor):
        rows, more = self.keyset.page(cursor, self.size)
        if cursor.after:
            has_prev, has_next = cursor.values is not None, more
        else:
            has_prev, has_next = more, cursor.values is not None
        self.links = self.cursor_links(rows, has_prev, has_next)
        return rows

    def get_page_size(self, request):
        asked = request.query_params.get(self.page_size_query_param, "")
        if not (is_ascii_digits(asked) and int(asked) >= 1):
            return self.page_size
        return min(int(asked), self.max_page_size)

    def get_paginated_response(self, data):
        return Response(data, headers=self.get_headers())

    def get_headers(self):
        headers = {
            "X-Total-Count": str(self.total),
            "Link": ", ".join(f'<{url}>; rel="{rel}"' for rel, url in self.links),
        }
        if self.estimated:
            headers["X-Total-Count-Estimated"] = "true"
        return headers

    def base_url(self):
        url = self.request.build_absolute_uri()
        return remove_query_param(remove_query_param(url, self.cursor_query_param), "page")

    def numbered_links(self, number, last_page, has_next, rows):
        if self.long and self.keyset is not None:
            # A long list: its deep pages are reached by cursor.
            links = [("first", self.base_url())]
            if number > 1:
                links.append(("prev", self.page_url(number - 1)))
            if has_next:
                if number * self.size <= self.max_page_offset:
                    links.append(("next", self.page_url(number + 1)))
                else:
                    links.append(("next", self.cursor_url(True, rows[-1])))
            links.append(("last", self.cursor_url(False, None)))
            return links
        links = [("first", self.base_url())]
        if number > 1:
            links.append(("prev", self.page_url(number - 1)))
        if has_next:
            links.append(("next", self.page_url(number + 1)))
        links.append(("last", self.page_url(last_page)))
        return links

    def cursor_links(self, rows, has_prev, has_next):
        links = [("first", self.base_url())]
        if has_prev and rows:
            links.append(("prev", self.cursor_url(False, rows[0])))
        if has_next and rows:
            links.append(("next", self.cursor_url(True, rows[-1])))
        links.append(("last", self.cursor_url(False, None)))
        return links

    def cursor_url(self, after, row):
        values = None if row is None else self.keyset.key_of(row)
        cursor = KeysetCursor(after=after, values=values).encode()
        return replace_query_param(self.base_url(), self.cursor_query_param, cursor)

    def page_url(self, number):
        if number == 1:
            return self.base_url()
        return replace_query_param(self.base_url(), self.page_query_param, number)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "A position in the list, as the `Link` header names it "
                "(opaque); it takes the place of `page`.",
                "schema": {"type": "string"},
            }
        )
        return parameters

    def get_paginated_response_schema(self, schema):
        return schema
