"""Server-side SVG charts for the admin's sales page: no JavaScript, no CDN.

Each function takes plain labels and numbers and returns a self-contained
`<svg>` string, safe to put in a template: every label is escaped. With no
browser to measure text in, widths are estimated from the characters, erring
towards too wide, so that every label stays inside the space it is given.
"""

import math
import string
import unicodedata
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import mark_safe

from shop.money import format_money

BAR_COLOUR = "#417690"  # the admin's own blue
AXIS_COLOUR = "#999"
GRID_COLOUR = "#e5e5e5"
FONT_SIZE = 12
LINE_HEIGHT = 14
TEXT = f'font-family="sans-serif" font-size="{FONT_SIZE}" fill="#333"'
ELLIPSIS = "…"
# A background-coloured outline under the glyphs: gridlines behind a value do not cross it.
HALO = 'stroke="#fff" stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
MONEY_STEP = Decimal("0.01")  # no tick between two cents

# Advance widths in hundredths of an em, rounded up from DejaVu Sans, the widest of the
# usual sans-serif faces (and the one Debian's browsers use); anything else counts as a
# full em. Whole numbers, so that a text and its characters add up to the same width.
NARROW = set(" .,:;'!|()[]-/ijlftrIJ")  # ≤ 0.42 em
WIDE = set("mwMW@%")  # ≤ 1 em
LOWER_OR_DIGIT = set(string.ascii_lowercase + string.digits)  # ≤ 0.64 em
UPPER = set(string.ascii_uppercase)  # ≤ 0.8 em
NICE_MULTIPLES = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


# --- Measuring and fitting text ---------------------------------------------------------


def _char_width(char):
    """`char`'s width in hundredths of an em; an accented letter is as wide as its base."""
    base = unicodedata.normalize("NFD", char)[:1] or char
    if base in NARROW:
        return 42
    if base in WIDE:
        return 100
    if base in LOWER_OR_DIGIT:
        return 64
    if base in UPPER:
        return 80
    if unicodedata.category(base) == "So":  # emoji and other symbols: wider than an em
        return 130
    return 100


def _pixels(hundredths):
    return hundredths * FONT_SIZE / 100


def text_width(text):
    """A generous estimate of `text`'s width in pixels at the charts' 12px sans-serif."""
    return _pixels(sum(map(_char_width, text)))


def _fitting_length(text, width):
    """How many of `text`'s first characters fit in `width` pixels."""
    used = 0
    for count, char in enumerate(text):
        used += _char_width(char)
        if _pixels(used) > width:
            return count
    return len(text)


def _first_line(text, width):
    """The start of `text` that fits in `width`, broken after a word where there is one."""
    fits = _fitting_length(text, width)
    if fits == len(text):
        return text
    space = text.rfind(" ", 0, fits + 1)
    return text[:space] if space > 0 else text[: max(1, fits)]


def _shorten(text, width):
    """`text` if it fits in `width`, else its longest start that fits with an ellipsis after."""
    if text_width(text) <= width:
        return text
    return text[: _fitting_length(text, width - text_width(ELLIPSIS))].rstrip() + ELLIPSIS


def fit_label(text, width, max_lines=2):
    """`text` as at most `max_lines` lines, each at most `width` pixels wide.

    Lines break between words (inside a word only when it is longer than a line); what
    still does not fit is cut, the last line ending in an ellipsis. The charts keep the
    full text in a `<title>`, which browsers show on hover.
    """
    rest = " ".join(text.split())
    lines = []
    while rest and len(lines) < max_lines - 1:
        line = _first_line(rest, width)
        lines.append(line)
        rest = rest[len(line) :].lstrip()
    if rest:
        lines.append(_shorten(rest, width))
    return lines or [""]


# --- Axes ------------------------------------------------------------------------------


def nice_ticks(top, *, max_intervals=5, min_step=None):
    """Evenly spaced ticks from 0 to at least `top`, a nice step apart (1, 2, 2.5 or 5 times
    a power of ten): 4 to `max_intervals` + 1 of them, at least 4 even when the values are
    tiny or all zero. `min_step` keeps steps whole multiples of it: 1 for counts, a cent
    for money.
    """
    top = Decimal(str(top))
    if top <= 0:
        top = min_step or Decimal(1)
    smallest = top / max_intervals
    steps = (multiple.scaleb(smallest.adjusted()) for multiple in NICE_MULTIPLES)
    # Below `min_step` any step will do: it is raised to `min_step` just after.
    step = next(
        step
        for step in steps
        if step >= smallest and (min_step is None or step <= min_step or step % min_step == 0)
    )
    if min_step is not None:
        step = max(step, min_step)
    intervals = max(3, math.ceil(top / step))
    # Written with the step's own decimals: 20, not 2E+1; 0.25, not 0.250.
    exponent = Decimal(1).scaleb(min(0, step.normalize().as_tuple().exponent))
    return [(step * i).quantize(exponent) for i in range(intervals + 1)]


def _number(value, places=None):
    if places is not None:
        return f"{value:,.{places}f}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return f"{value:,}"


def _value_text(value, money):
    return format_money(value) if money else _number(value)


def _tick_texts(ticks, money):
    """The ticks' labels, with no more decimals than the step needs."""
    step = ticks[1]
    whole = step == step.to_integral_value()
    if money:
        return [format_money(tick, places=0 if whole else 2) for tick in ticks]
    places = max(0, -step.as_tuple().exponent)
    return [_number(tick, places) for tick in ticks]


def _min_step(values, money):
    if money:
        return MONEY_STEP
    return Decimal(1) if all(isinstance(value, int) for value in values) else None


def _spaced_ticks(top, *, money, values, length):
    """Ticks for a horizontal axis `length` pixels long: as many (4 to 6) as fit side by side.

    Returns the ticks, their labels and the shortest axis they fit on, which is longer
    than `length` when even four labels do not fit in it.
    """
    min_step = _min_step(values, money)
    for max_intervals in (5, 4, 3):
        ticks = nice_ticks(top, max_intervals=max_intervals, min_step=min_step)
        texts = _tick_texts(ticks, money)
        needed = (len(ticks) - 1) * (max(map(text_width, texts)) + 8)
        if needed <= length:
            break
    return ticks, texts, needed


def _grid_line(i):
    # The zero line is the axis, drawn darker; the page's style recolours both in dark mode.
    if i == 0:
        return f'class="axis" stroke="{AXIS_COLOUR}"'
    return f'class="grid" stroke="{GRID_COLOUR}"'


def _empty(title):
    return mark_safe(f'<p class="help">{escape(title)}: nothing in this period.</p>')


def _svg(kind, title, width, height, body):
    # Rounded up: a chart's last fraction of a pixel is still inside it.
    width, height = math.ceil(width), math.ceil(height)
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}</svg>'
    )


# --- Charts ----------------------------------------------------------------------------


def bar_chart(items, *, title, width=720, label_width=250, money=False):
    """Horizontal bars, one per `(label, value)`, in the order given (biggest first).

    Labels wrap to two lines in a column of at most `label_width` and are shortened past that;
    each bar's `<title>` holds the full label and value. The value axis below has
    gridlines and 4 to 6 ticks; amounts of money show in the shop's currency.
    """
    items = list(items)
    if not items:
        return _empty(title)
    bar_height, pitch, top_pad = 22, 34, 4
    # Short labels leave their room to the bars.
    label_width = min(label_width, math.ceil(max(text_width(label) for label, _ in items)) + 12)
    values = [value for _, value in items]
    value_texts = [_value_text(value, money) for value in values]
    value_width = max(map(text_width, value_texts)) + 10
    ticks, tick_texts, shortest_axis = _spaced_ticks(
        max(values), money=money, values=values, length=width - label_width - value_width
    )
    # The end ticks' labels are centred on the axis's ends, half of each over the next column.
    label_width = max(label_width, text_width(tick_texts[0]) / 2 + 4)
    value_width = max(value_width, text_width(tick_texts[-1]) / 2 + 4)
    plot = max(shortest_axis, width - label_width - value_width)
    width = label_width + plot + value_width
    axis_max = float(ticks[-1])
    rows_bottom = top_pad + len(items) * pitch
    height = rows_bottom + 24

    def x(value):
        return label_width + plot * float(value) / axis_max

    grid = "".join(
        f'<line x1="{x(tick):.1f}" y1="{top_pad}" x2="{x(tick):.1f}" y2="{rows_bottom}" '
        f"{_grid_line(i)}/>"
        f'<text x="{x(tick):.1f}" y="{rows_bottom + 16}" text-anchor="middle" {TEXT}>'
        f"{escape(text)}</text>"
        for i, (tick, text) in enumerate(zip(ticks, tick_texts, strict=True))
    )
    rows = []
    for i, ((label, value), value_text) in enumerate(zip(items, value_texts, strict=True)):
        middle = top_pad + i * pitch + pitch / 2
        lines = fit_label(label, label_width - 12)
        first_baseline = middle + 4 - (len(lines) - 1) * LINE_HEIGHT / 2
        label_lines = "".join(
            f'<tspan x="{label_width - 8}" y="{first_baseline + n * LINE_HEIGHT:.1f}">'
            f"{escape(line)}</tspan>"
            for n, line in enumerate(lines)
        )
        length = max(1.0, x(value) - label_width)
        rows.append(
            f'<g class="bar-row"><title>{escape(label)}: {escape(value_text)}</title>'
            f'<text class="bar-label" text-anchor="end" {TEXT}>{label_lines}</text>'
            f'<rect x="{label_width}" y="{middle - bar_height / 2:.1f}" width="{length:.1f}" '
            f'height="{bar_height}" fill="{BAR_COLOUR}" class="bar"/>'
            f'<text class="bar-value" x="{label_width + length + 6:.1f}" y="{middle + 4:.1f}" '
            f"{TEXT} {HALO}>{escape(value_text)}</text></g>"
        )
    return _svg("bar-chart", title, width, height, grid + "".join(rows))


def column_chart(points, *, title, width=840, height=260, money=False, axis_labels=None):
    """Vertical bars, one per `(label, value)`, in the order given (periods, oldest first).

    One point draws one bar. `axis_labels` (default: the labels) name the bars along the
    bottom, every k-th one so that they never overlap; each bar's `<title>` holds its
    full label and value. The value axis has gridlines and 4 to 6 ticks.
    """
    points = list(points)
    if not points:
        return _empty(title)
    values = [value for _, value in points]
    axis_labels = list(axis_labels or (label for label, _ in points))
    ticks = nice_ticks(max(values), min_step=_min_step(values, money))
    tick_texts = _tick_texts(ticks, money)
    label_width = max(map(text_width, axis_labels))
    left = max(max(map(text_width, tick_texts)) + 14, label_width / 2)
    right, top_pad, bottom = max(12, label_width / 2), 12, 30
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    baseline = top_pad + plot_h
    slot = plot_w / len(points)
    bar_width = max(1.0, min(slot * 0.8, 48))
    every = math.ceil((label_width + 10) / slot)
    axis_max = float(ticks[-1])

    def y(value):
        return baseline - plot_h * float(value) / axis_max

    grid = "".join(
        f'<line x1="{left:.1f}" y1="{y(tick):.1f}" x2="{width - right:.1f}" y2="{y(tick):.1f}" '
        f"{_grid_line(i)}/>"
        f'<text x="{left - 8:.1f}" y="{y(tick) + 4:.1f}" text-anchor="end" {TEXT}>'
        f"{escape(text)}</text>"
        for i, (tick, text) in enumerate(zip(ticks, tick_texts, strict=True))
    )
    columns, names = [], []
    for i, ((label, value), axis_label) in enumerate(zip(points, axis_labels, strict=True)):
        middle = left + slot * (i + 0.5)
        top = min(y(value), baseline)  # a net loss (refunds above sales) draws no column
        columns.append(
            f'<g class="column"><title>{escape(label)}: {escape(_value_text(value, money))}'
            f'</title><rect x="{middle - bar_width / 2:.1f}" y="{top:.1f}" '
            f'width="{bar_width:.1f}" height="{baseline - top:.1f}" fill="{BAR_COLOUR}" '
            f'class="bar"/></g>'
        )
        if i % every == 0:
            names.append(
                f'<text x="{middle:.1f}" y="{baseline + 20}" text-anchor="middle" {TEXT}>'
                f"{escape(axis_label)}</text>"
            )
    return _svg("column-chart", title, width, height, grid + "".join(columns + names))
