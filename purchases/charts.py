"""Server-side SVG charts for the admin's sales page: no JavaScript, no CDN.

Each function takes plain labels and numbers and returns a self-contained
`<svg>` string, safe to put in a template: every label is escaped.
"""

from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import mark_safe

BAR_COLOUR = "#417690"  # the admin's own blue
LINE_COLOUR = "#205067"
TEXT = 'font-family="sans-serif" font-size="12" fill="#333"'


def _number(value):
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,}"


def bar_chart(items, *, title, width=640, bar_height=24, label_width=220):
    """Horizontal bars, one per `(label, value)`, longest at the top as given."""
    items = list(items)
    if not items:
        return mark_safe(f'<p class="help">{escape(title)}: nothing in this period.</p>')
    top = max(float(value) for _, value in items) or 1.0
    value_width = 90
    plot = width - label_width - value_width
    height = len(items) * (bar_height + 8) + 8
    rows = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * (bar_height + 8)
        length = max(1.0, plot * float(value) / top)
        text_y = y + bar_height * 0.7
        short = label if len(label) <= 32 else label[:31] + "…"
        rows.append(
            f"<g><title>{escape(label)}: {escape(_number(value))}</title>"
            f'<text x="{label_width - 8}" y="{text_y:.1f}" text-anchor="end" {TEXT}>'
            f"{escape(short)}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{BAR_COLOUR}" class="bar"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{text_y:.1f}" {TEXT}>'
            f"{escape(_number(value))}</text></g>"
        )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(rows)}</svg>'
    )


def line_chart(points, *, title, width=640, height=220):
    """A line through `(label, value)` points in the order given (days, oldest first)."""
    points = list(points)
    if not points:
        return mark_safe(f'<p class="help">{escape(title)}: nothing in this period.</p>')
    left, right, top_pad, bottom = 70, 16, 16, 36
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max(float(value) for _, value in points) or 1.0
    step = plot_w / max(1, len(points) - 1)

    def xy(i, value):
        return left + i * step, top_pad + plot_h * (1 - float(value) / top)

    coords = [xy(i, value) for i, (_, value) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{LINE_COLOUR}">'
        f"<title>{escape(label)}: {escape(_number(value))}</title></circle>"
        for (x, y), (label, value) in zip(coords, points, strict=True)
    )
    axis = (
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - right}" y2="{top_pad + plot_h}" '
        f'stroke="#999"/><line x1="{left}" y1="{top_pad}" x2="{left}" y2="{top_pad + plot_h}" '
        f'stroke="#999"/>'
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" {TEXT}>'
        f"{escape(_number(max(value for _, value in points)))}</text>"
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" {TEXT}>0</text>'
        f'<text x="{left}" y="{height - 10}" {TEXT}>{escape(points[0][0])}</text>'
        f'<text x="{width - right}" y="{height - 10}" text-anchor="end" {TEXT}>'
        f"{escape(points[-1][0])}</text>"
    )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{axis}'
        f'<polyline points="{path}" fill="none" stroke="{LINE_COLOUR}" stroke-width="2"/>'
        f"{dots}</svg>"
    )
