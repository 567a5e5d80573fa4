"""The admin's "Sales" page: top customers, top products and revenue per day, as SVG charts.

Every number comes from `purchases.analytics` (the aggregates the API serves);
this module only picks the period and lays the results out. The charts are drawn
on the server by `purchases.charts`: no JavaScript, nothing fetched from elsewhere.
"""

from dataclasses import dataclass
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
from purchases.models import Purchase

TOP = 10  # customers and products shown
PRESETS = [
    ("7", "Last 7 days"),
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("all", "All time"),
]
DEFAULT_PRESET = "30"


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
    elif first and last and first > last:
        problem = "The start date is after the end date."
    elif first or last:
        return Period(first, last, ""), ""
    if preset == "all":
        return Period(None, None, "all"), problem
    if preset not in dict(PRESETS):
        preset = DEFAULT_PRESET
    return Period(today - timedelta(days=int(preset) - 1), None, preset), problem


def every_day(rows, period, today):
    """`(day, revenue)` for each day of the period, days without sales at zero."""
    revenue = {row["day"]: row["revenue"] for row in rows}
    if not revenue:
        return []
    first = period.first or min(revenue)
    last = period.last or max(today, max(revenue))
    days = (last - first).days + 1
    return [
        (first + timedelta(days=n), revenue.get(first + timedelta(days=n), Decimal("0.00")))
        for n in range(days)
    ]


def sales_view(model_admin):
    """The view, bound to the purchase admin (wrap it in `admin_site.admin_view`)."""

    def view(request):
        if not model_admin.has_view_permission(request):
            raise PermissionDenied
        today = timezone.localdate()
        period, problem = choose_period(request.GET, today)
        if problem:
            messages.error(request, f"{problem} Showing {period.label.lower()} instead.")
        window = {"since": period.since, "until": period.until}

        customers = analytics.ranked_customers(**window, limit=TOP)
        products = analytics.ranked_products(**window, limit=TOP)
        day_rows = list(analytics.revenue_by_day(**window))
        days = every_day(day_rows, period, today)
        revenue = sum((row["revenue"] for row in day_rows), Decimal("0.00"))
        purchase_count = sum(row["purchase_count"] for row in day_rows)

        customers_chart = charts.bar_chart(
            [(user.get_full_name(), user.total_spent) for user in customers],
            title="Top customers by amount spent",
            width=420,
            label_width=140,
        )
        products_chart = charts.bar_chart(
            [(product.name, product.units_sold) for product in products],
            title="Top products by units sold",
            width=420,
            label_width=140,
        )
        revenue_chart = charts.line_chart(
            [(f"{day:%d %b %Y}", amount) for day, amount in days],
            title="Revenue per day",
            width=840,
        )
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
            "opts": Purchase._meta,
            "title": "Sales",
            "period": period,
            "presets": PRESETS,
            "from_value": f"{period.first:%Y-%m-%d}" if period.first else "",
            "to_value": f"{period.last:%Y-%m-%d}" if period.last else "",
            "customers": customers,
            "products": products,
            "customers_chart": customers_chart,
            "products_chart": products_chart,
            "revenue_chart": revenue_chart,
            "revenue": revenue,
            "purchase_count": purchase_count,
            "purchases_url": list_url,
            "top": TOP,
            "time_zone": settings.TIME_ZONE,
        }
        return TemplateResponse(request, "admin/purchases/purchase/sales.html", context)

    return view
