"""The admin's change lists at the size of a large shop: nothing on a list page reads a table.

Django's change list counts every row twice (the filtered list and the whole table),
lists each year, month or day that has rows for its date drill-down, and offers each
distinct value of a column as a filter: each a full scan of the table. Here:

- the count is exact up to `EXACT_COUNT_LIMIT` rows and PostgreSQL's estimate past it
  (`EstimatedCountPaginator`); the whole table is not counted (`show_full_result_count`)
  and there are no facet counts;
- pages reach `MAX_PAGE_OFFSET` rows deep (an offset reads every row it skips): further
  down, a search, a filter or a date narrows the list;
- the date drill-down offers every year, month and day between the list's first and last
  row (two reads of the index), whether or not each has rows;
- columns with few values offer the values PostgreSQL's statistics know as common
  (`CommonValuesFilter`), not a `DISTINCT` over the table.
"""

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min
from django.utils import timezone
from django.utils.functional import cached_property

from shop.pagination import EXACT_COUNT_LIMIT, MAX_PAGE_OFFSET, count_rows


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is exact up to `EXACT_COUNT_LIMIT` rows and estimated past it,
    and whose pages stop `MAX_PAGE_OFFSET` rows deep."""

    estimated = False  # whether `count` is an estimate (known once it is read)

    @cached_property
    def count(self):
        total, _, self.estimated = count_rows(
            self.object_list, EXACT_COUNT_LIMIT, estimate_first=True
        )
        return total

    @cached_property
    def num_pages(self):
        pages = super().num_pages
        return min(pages, MAX_PAGE_OFFSET // self.per_page + 1)


class CalendarQuerySet:
    """Mixed into a change list's queryset: `dates()`/`datetimes()`, which the date
    drill-down asks for the years, months or days that have rows (a `DISTINCT` over each
    row's truncated date), answer every one between the first and the last row instead:
    the minimum and the maximum, which the column's index gives at once."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first = timezone.localtime(bounds["first"], zone)
        last = timezone.localtime(bounds["last"], zone)
        return [
            timezone.make_aware(datetime.combine(day, time.min), zone)
            for day in calendar(first.date(), last.date(), kind)
        ]

    def dates(self, field_name, kind, order="ASC"):
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        return calendar(bounds["first"], bounds["last"], kind)


def calendar(first, last, kind):
    """The first day of each year, month or day from `first` to `last` (dates)."""
    if kind == "year":
        return [
            first.replace(year=year, month=1, day=1) for year in range(first.year, last.year + 1)
        ]
    if kind == "month":
        months = range(first.year * 12 + first.month - 1, last.year * 12 + last.month)
        return [first.replace(year=m // 12, month=m % 12 + 1, day=1) for m in months]
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class CalendarChangeList(ChangeList):
    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        if not isinstance(queryset, CalendarQuerySet):
            queryset = queryset._chain()
            queryset.__class__ = type(
                f"Calendar{queryset.__class__.__name__}",
                (CalendarQuerySet, queryset.__class__),
                {},
            )
        return queryset


class LargeListAdmin:
    """Mixed into a `ModelAdmin` whose table may hold millions of rows."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_changelist(self, request, **kwargs):
        return CalendarChangeList


def common_values(model, column, using="default"):
    """The values of `column` PostgreSQL's statistics know as common (up to 100, by the
    statistics target): none for a column whose values are all rare; None where there are
    no statistics (another database, a table never analysed)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT most_common_vals::text::text[] FROM pg_stats"
            " WHERE schemaname = current_schema() AND tablename = %s AND attname = %s",
            [model._meta.db_table, column],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return sorted(row[0] or ())


class CommonValuesFilter(admin.SimpleListFilter):
    """A column's values as filter choices, without reading the table on PostgreSQL.

    Its statistics' common values are offered there (the values of a column with few);
    a rare value missing from them can still be filtered by its URL. Elsewhere, or before
    statistics exist, a `DISTINCT` of the column (a small table's). Subclasses name
    `parameter_name` (the column) and `title`.
    """

    max_choices = 200

    def lookups(self, request, model_admin):
        model = model_admin.model
        values = common_values(model, self.parameter_name)
        if values is None:
            values = (
                model._default_manager.order_by(self.parameter_name)
                .values_list(self.parameter_name, flat=True)
                .distinct()[: self.max_choices]
            )
        return [(value, value) for value in values if value]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(**{self.parameter_name: self.value()})
