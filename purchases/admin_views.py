"""The admin's "Sales" page: top customers, top products and revenue over time, as SVG charts.

Every number comes from `purchases.analytics` (the aggregates the API serves);
this module only picks the period and lays the results out. The charts are drawn
on the server by `purchases.charts`: no JavaScript, nothing fetched from elsewhere.
Whatever the period, the work is bounded: the revenue is grouped in the database
into at most `MAX_BUCKETS` days, weeks, months or years.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from purchases import analytics, charts
from shop.money import format_money
from shop.replica import read_report

# Who may read the sales page (as the analytics API: `purchases.analytics_views`).
SALES_REPORT = "purchases.view_sales_report"

TOP = 10  # customers and products shown
PRESETS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("all", "All time"),
]
DEFAULT_PRESET = "30"
# Dates typed outside these are typos (0202 for 2020), and near the calendar's ends a
# day more or a time-zone shift would not even be a date.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)
MAX_BUCKETS = 100  # bars in the revenue chart, at most
YEARS_PER_BUCKET = (1, 2, 5, 10, 20, 50, 100)  # 100 years a bar covers any date range


@dataclass
class Period:
    """Whole days, `first` to `last` included; `None` leaves that end open."""

    first: date | None
    last: date | None
    preset: str  # the chosen preset, or "" for dates typed in

    @property
    def since(self):
        return _midnight(self.first) if self.first else None

    @property
    def until(self):
        return _midnight(self.last + timedelta(days=1)) if self.last else None

    @property
    def label(self):
        if self.preset:
            return dict(PRESETS)[self.preset]
        if self.first and self.last:
            return f"{self.first:%d %b %Y} to {self.last:%d %b %Y}"
        if self.first:
            return f"Since {self.first:%d %b %Y}"
        return f"Until {self.last:%d %b %Y}"


def _midnight(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def _date(text):
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return False


def choose_period(params, today):
    """The period asked for by `?period=7|30|90|all` or `?from=&to=` (ISO dates); else 30 days.

    Returns the period and a message for the person when what they typed was unusable.
    """
    first, last = _date(params.get("from", "").strip()), _date(params.get("to", "").strip())
    preset = params.get("period", "")
    problem = ""
    if first is False or last is False:
        problem = "Please give dates as YYYY-MM-DD."
    elif any(day and not EARLIEST <= day <= LATEST for day in (first, last)):
        problem = f"Please give dates between {EARLIEST:%d %b %Y} and {LATEST:%d %b %Y}."
    elif first and last and first > last:
        problem = "The start date is after the end date."
    elif first or last:
        return Period(first, last, ""), ""
    if preset == "all":
        return Period(None, None, "all"), problem
    if preset not in dict(PRESETS):
        preset = DEFAULT_PRESET
    return Period(today - timedelta(days=int(preset) - 1), None, preset), problem


# --- Revenue over time -------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """The revenue chart's axis: consecutive buckets of one unit, from `first` to `last`.

    `unit` is "day", "week" (from Monday), "month" or "year"; past a century a year bucket
    holds `years` years (2, 5, 10...), the database's yearly rows summed here.
    """

    first: date
    last: date
    unit: str
    years: int = 1

    def _index(self, day):
        # Consecutive integers for consecutive buckets. Day 1 (1 Jan 0001) is a Monday.
        if self.unit == "day":
            return day.toordinal()
        if self.unit == "week":
            return (day.toordinal() - 1) // 7
        if self.unit == "month":
            return day.year * 12 + day.month - 1
        return day.year // self.years

    def _start(self, index):
        if self.unit == "day":
            return date.fromordinal(index)
        if self.unit == "week":
            return date.fromordinal(index * 7 + 1)
        if self.unit == "month":
            return date(index // 12, index % 12 + 1, 1)
        return date(max(1, index * self.years), 1, 1)

    def start_of(self, day):
        """The first day of the bucket `day` falls in."""
        return self._start(self._index(day))

    def starts(self):
        """The first day of each bucket, oldest first."""
        return [
            self._start(index)
            for index in range(self._index(self.first), self._index(self.last) + 1)
        ]

    @property
    def size(self):
        return self._index(self.last) - self._index(self.first) + 1

    @property
    def name(self):
        """What one bucket is: "day", "month", "10 years"."""
        return f"{self.years} years" if self.years > 1 else self.unit

    def label(self, start):
        """A bucket in full, for its tooltip: "Mon 03 Jun 2024", "Week of 03 Jun 2024"."""
        if self.unit == "day":
            return f"{start:%a %d %b %Y}"
        if self.unit == "week":
            return f"Week of {start:%d %b %Y}"
        if self.unit == "month":
            return f"{start:%B %Y}"
        if self.years > 1:
            return f"{start.year}-{start.year + self.years - 1}"
        return str(start.year)

    def axis_label(self, start):
        """A bucket in short, under its bar: the year only when the axis spans several."""
        if self.unit in ("day", "week"):
            return f"{start:%d %b}" if self.first.year == self.last.year else f"{start:%d %b %Y}"
        if self.unit == "month":
            return f"{start:%b %Y}"
        return self.label(start)


def choose_timeline(first, last):
    """The finest buckets covering `first` to `last` in at most `MAX_BUCKETS`.

    Days, then weeks, months and years; past a century, groups of years.
    """
    for unit in ("day", "week", "month"):
        timeline = Timeline(first, last, unit)
        if timeline.size <= MAX_BUCKETS:
            return timeline
    for years in YEARS_PER_BUCKET:
        timeline = Timeline(first, last, "year", years)
        if timeline.size <= MAX_BUCKETS:
            break
    return timeline


def chart_days(period, today, using=None):
    """The first and last day the revenue chart covers; None when there were no sales.

    The period's own ends where it has them. An open start is the first sale's day; an
    open end is today, or the last sale's day if later (`analytics.sales_extent`).
    """
    if period.first and period.last:
        return period.first, period.last
    extent = analytics.sales_extent(since=period.since, until=period.until, using=using)
    if extent["first"] is None:
        return None
    first = period.first or timezone.localdate(extent["first"])
    last = period.last or max(today, timezone.localdate(extent["last"]))
    return first, last


@dataclass
class Revenue:
    """The period's revenue: in total, and per bucket of `timeline` (None: no sales)."""

    timeline: Timeline | None = None
    # `(first day, revenue)` for every bucket of the timeline, quiet ones at zero.
    buckets: list = field(default_factory=list)
    total: Decimal = Decimal("0.00")
    purchase_count: int = 0


def revenue_over_time(period, today, using=None):
    """The period's revenue per day, week, month or year: at most `MAX_BUCKETS` of them.

    The database groups the purchases, so the work follows the number of buckets with
    sales, never the number of days or purchases in the period.
    """
    days = chart_days(period, today, using)
    if days is None:
        return Revenue()
    timeline = choose_timeline(*days)
    rows = analytics.revenue_by_period(
        since=period.since, until=period.until, unit=timeline.unit, using=using
    )
    revenue = Revenue(timeline=timeline)
    per_bucket = defaultdict(Decimal)
    for row in rows:
        per_bucket[timeline.start_of(row["bucket"])] += row["revenue"]
        revenue.total += row["revenue"]
        revenue.purchase_count += row["purchase_count"]
    zero = Decimal("0.00")
    revenue.buckets = [(start, per_bucket.get(start, zero)) for start in timeline.starts()]
    return revenue


def revenue_chart(revenue):
    """The column chart of `revenue` per bucket, titled with the bucket's size."""
    timeline = revenue.timeline
    title = f"Revenue per {timeline.name if timeline else 'day'}"
    if not revenue.purchase_count:
        return title, charts.column_chart([], title=title)
    chart = charts.column_chart(
        [(timeline.label(start), amount) for start, amount in revenue.buckets],
        axis_labels=[timeline.axis_label(start) for start, _ in revenue.buckets],
        title=title,
        width=840,
        money=True,
    )
    return title, chart


# --- Rankings ----------------------------------------------------------------------------


@dataclass
class RankedRow:
    """One line of a ranking's table."""

    name: str
    url: str
    detail: str  # under the name: the customer's email, the product's SKU
    numbers: list[str]


@dataclass
class Ranking:
    """A ranking section of the page: its bar chart beside a table of the same rows."""

    id: str
    title: str
    headings: list[str]  # the table's columns after the rank
    chart: str
    rows: list[RankedRow]


def told_apart(names, details):
    """Each name, with its detail (an email, a SKU) added where another row has the same
    name: two customers called Ann Smith are two different bars."""
    seen = Counter(names)
    return [
        f"{name} ({detail})" if seen[name] > 1 else name
        for name, detail in zip(names, details, strict=True)
    ]


def customer_ranking(customers):
    """The top customers by amount spent."""
    title = "Top customers by amount spent"
    labels = told_apart(
        [user.get_full_name() or user.email for user in customers],
        [user.email for user in customers],
    )
    return Ranking(
        id="top-customers",
        title=title,
        headings=["Customer", "Spent", "Purchases"],
        chart=charts.bar_chart(
            [(label, user.total_spent) for label, user in zip(labels, customers, strict=True)],
            title=title,
            money=True,
        ),
        rows=[
            RankedRow(
                name=user.get_full_name() or user.email,
                url=reverse("admin:users_user_change", args=[user.pk]),
                detail=user.email,
                numbers=[format_money(user.total_spent), f"{user.purchase_count:,}"],
            )
            for user in customers
        ],
    )


def product_ranking(products):
    """The top products by units sold."""
    title = "Top products by units sold"
    labels = told_apart(
        [product.name for product in products], [product.sku for product in products]
    )
    return Ranking(
        id="top-products",
        title=title,
        headings=["Product", "Units", "Purchases"],
        chart=charts.bar_chart(
            [(label, product.units_sold) for label, product in zip(labels, products, strict=True)],
            title=title,
        ),
        rows=[
            RankedRow(
                name=product.name,
                url=reverse("admin:products_product_change", args=[product.pk]),
                detail=product.sku,
                numbers=[f"{product.units_sold:,}", f"{product.purchase_count:,}"],
            )
            for product in products
        ],
    )


# --- The view ----------------------------------------------------------------------------


def sales_view(model_admin):
    """The view, bound to the purchase admin (wrap it in `admin_site.admin_view`)."""

    def view(request):
        if not request.user.has_perm(SALES_REPORT):
            raise PermissionDenied
        today = timezone.localdate()
        period, problem = choose_period(request.GET, today)
        if problem:
            messages.error(request, f"{problem} Showing {period.label.lower()} instead.")
        window = {"since": period.since, "until": period.until}

        def figures(alias):  # a report: the replica when there is one (`shop.replica`)
            return (
                analytics.top_customers(**window, limit=TOP, using=alias),
                analytics.top_products(**window, limit=TOP, using=alias),
                revenue_over_time(period, today, alias),
            )

        customers, products, revenue = read_report(figures)
        revenue_title, revenue_chart_svg = revenue_chart(revenue)
        # The purchases behind the numbers, with the admin list's own date lookups.
        query = {}
        if period.since:
            query["created_at__gte"] = str(period.since)
        if period.until:
            query["created_at__lt"] = str(period.until)
        list_url = reverse("admin:purchases_purchase_changelist")
        if query:
            list_url += "?" + urlencode(query)

        context = {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": "Sales",
            "period": period,
            "presets": PRESETS,
            "from_value": f"{period.first:%Y-%m-%d}" if period.first else "",
            "to_value": f"{period.last:%Y-%m-%d}" if period.last else "",
            "customers": customers,
            "products": products,
            "rankings": [customer_ranking(customers), product_ranking(products)],
            "timeline": revenue.timeline,
            "revenue_title": revenue_title,
            "revenue_chart": revenue_chart_svg,
            "revenue": revenue.total,
            "revenue_text": format_money(revenue.total),
            "purchase_count": revenue.purchase_count,
            "purchases_url": list_url,
            "top": TOP,
            "time_zone": settings.TIME_ZONE,
        }
        return TemplateResponse(request, "admin/purchases/purchase/sales.html", context)

    return view
