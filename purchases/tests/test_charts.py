"""The sales page's SVG charts: well-formed, proportional, readable, and safe with any label."""

from decimal import Decimal
from itertools import pairwise
from xml.etree import ElementTree

import pytest

from purchases.charts import (
    ELLIPSIS,
    bar_chart,
    column_chart,
    fit_label,
    nice_ticks,
    text_width,
)
from shop.money import format_money

SVG = "{http://www.w3.org/2000/svg}"
LONG_NAME = "Maximilian Alexander Friedrich von Hohenzollern-Sigmaringen the Third"


def parse(svg):
    return ElementTree.fromstring(str(svg))


def texts(svg):
    """The text of every `<text>` in the chart, its `<tspan>` lines joined by a space."""
    return [" ".join(t.itertext()) for t in svg.iter(f"{SVG}text")]


def bars(svg):
    return [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "bar"]


# --- Bars ------------------------------------------------------------------------------


def test_bar_lengths_are_proportional_to_the_values():
    svg = parse(bar_chart([("Alice", Decimal("200.00")), ("Bob", Decimal("50.00"))], title="Top"))

    lengths = [float(rect.get("width")) for rect in bars(svg)]
    assert len(lengths) == 2
    assert abs(lengths[0] / lengths[1] - 4) < 0.01


def test_labels_are_escaped():
    svg = bar_chart([('<script>alert("x")</script> & co', 3)], title="<b>Top</b>")

    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    parse(svg)  # still well-formed XML


def test_empty_data_says_so_instead_of_drawing():
    assert "nothing in this period" in bar_chart([], title="Top customers")
    assert "nothing in this period" in column_chart([], title="Revenue")


def test_all_zero_values_do_not_divide_by_zero():
    assert len(bars(parse(bar_chart([("A", 0), ("B", 0)], title="Top")))) == 2
    assert len(bars(parse(column_chart([("A", 0), ("B", 0)], title="Revenue")))) == 2


def test_a_long_bar_label_is_shortened_to_its_column_and_kept_whole_in_the_title():
    svg = parse(bar_chart([(LONG_NAME, Decimal("12.50")), ("Bo", 1)], title="Top", label_width=210))

    rows = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "bar-row"]
    lines = [tspan.text for tspan in rows[0].iter(f"{SVG}tspan")]
    assert len(lines) == 2 and lines[-1].endswith(ELLIPSIS)
    assert all(text_width(line) <= 210 - 8 for line in lines)
    assert rows[0].find(f"{SVG}title").text == f"{LONG_NAME}: 12.50"
    assert [tspan.text for tspan in rows[1].iter(f"{SVG}tspan")] == ["Bo"]


def test_the_chart_widens_rather_than_crowd_its_ticks():
    svg = parse(bar_chart([("A", Decimal("1234567.89"))], title="Top", width=300, money=True))

    ticks = [t for t in texts(svg) if t.startswith("USD") and t != "USD 1,234,567.89"]
    assert len(ticks) >= 4
    assert float(svg.get("width")) > 300


# --- Columns ---------------------------------------------------------------------------


def test_columns_are_proportional_and_the_highest_is_tallest():
    days = [("1 Jan", Decimal("10")), ("2 Jan", Decimal("40")), ("3 Jan", 0)]

    svg = parse(column_chart(days, title="Revenue per day"))

    heights = [float(rect.get("height")) for rect in bars(svg)]
    assert len(heights) == 3
    assert abs(heights[1] / heights[0] - 4) < 0.01 and heights[2] == 0


def test_one_bucket_draws_one_bar():
    svg = parse(column_chart([("Mon 03 Jun 2024", Decimal("5"))], title="Revenue per day"))

    (bar,) = bars(svg)
    assert float(bar.get("height")) > 0
    assert float(bar.get("width")) <= 48  # a bar, not a block filling the chart


def test_axis_labels_name_every_kth_bucket_so_that_they_never_overlap():
    labels = [f"{n:02d} Jun 2024" for n in range(100)]

    svg = parse(column_chart([(label, n) for n, label in enumerate(labels)], title="R", width=840))

    named = [t for t in svg.iter(f"{SVG}text") if t.text in labels]
    assert 4 <= len(named) < 20
    xs = [float(t.get("x")) for t in named]
    gaps = [b - a for a, b in pairwise(xs)]
    assert min(gaps) > max(text_width(label) for label in labels)


def test_column_tooltips_hold_the_full_label_and_the_money():
    svg = column_chart(
        [("Week of 03 Jun 2024", Decimal("1234.5"))], axis_labels=["03 Jun"], title="R", money=True
    )

    assert "<title>Week of 03 Jun 2024: USD 1,234.50</title>" in svg
    assert ">03 Jun</text>" in svg


# --- Axes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (1, ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]),
        (7, ["0", "2", "4", "6", "8"]),
        (12, ["0.0", "2.5", "5.0", "7.5", "10.0", "12.5"]),
        (99, ["0", "20", "40", "60", "80", "100"]),
        (Decimal("279.60"), ["0", "100", "200", "300"]),
        (Decimal("1283.30"), ["0", "500", "1000", "1500"]),
        (0.003, ["0.000", "0.001", "0.002", "0.003"]),
        (123_456_789, ["0", "25000000", "50000000", "75000000", "100000000", "125000000"]),
        (10**15, [str(n * 2 * 10**14) for n in range(6)]),
    ],
)
def test_ticks_are_4_to_6_nice_values_from_zero_past_the_top(top, ticks):
    assert [str(tick) for tick in nice_ticks(top)] == ticks


@pytest.mark.parametrize("top", [Decimal(n) / 7 for n in range(1, 2000, 37)] + [10**9 + 1])
def test_tick_steps_are_1_2_2_5_or_5_times_a_power_of_ten(top):
    ticks = nice_ticks(top)

    step = ticks[1]
    assert 4 <= len(ticks) <= 6
    assert ticks[-1] >= top > ticks[-2]
    assert step.scaleb(-step.adjusted()).normalize() in {1, 2, Decimal("2.5"), 5}
    assert all(b - a == step for a, b in pairwise(ticks))


def test_money_ticks_are_whole_cents_and_count_ticks_whole_numbers():
    assert nice_ticks(Decimal("0.01"), min_step=Decimal("0.01")) == [
        Decimal("0.00"),
        Decimal("0.01"),
        Decimal("0.02"),
        Decimal("0.03"),
    ]
    assert nice_ticks(1, min_step=Decimal(1)) == [0, 1, 2, 3]
    assert nice_ticks(12, min_step=Decimal(1)) == [0, 5, 10, 15]  # never 2.5 units


def test_every_chart_has_gridlines_and_labelled_ticks():
    charts = [
        bar_chart([("A", Decimal("80.00")), ("B", Decimal("20.00"))], title="T", money=True),
        bar_chart([("A", 7), ("B", 3)], title="T"),
        column_chart([("Jan", Decimal("80.00")), ("Feb", 0)], title="T", money=True),
    ]
    for chart in charts:
        svg = parse(chart)
        gridlines = list(svg.iter(f"{SVG}line"))
        assert 4 <= len(gridlines) <= 6
        labels = texts(svg)
        assert "USD 0" in labels or "0" in labels


# --- Labels ----------------------------------------------------------------------------


def test_a_label_that_fits_stays_whole_on_one_line():
    assert fit_label("Alice Martin", 200) == ["Alice Martin"]


def test_a_long_label_wraps_between_words_then_ends_in_an_ellipsis():
    lines = fit_label(LONG_NAME, 200)

    assert lines == ["Maximilian Alexander", "Friedrich von Hohenzollern-…"]
    assert all(text_width(line) <= 200 for line in lines)


def test_a_word_longer_than_a_line_is_split():
    lines = fit_label("Supercalifragilisticexpialidocious-and-then-some Smith", 150)

    assert "".join(lines).startswith("Supercalifragilisticexpialidocious-and-the")
    assert lines[-1].endswith(ELLIPSIS)
    assert all(text_width(line) <= 150 for line in lines)


def test_text_width_counts_wide_letters_wider():
    assert text_width("WWWW") > text_width("Anna") > text_width("illi")
    assert text_width("é") == text_width("e")  # an accent adds no width


# --- Money -----------------------------------------------------------------------------


def test_money_has_the_currency_thousands_separators_and_cents(settings):
    settings.SHOP_CURRENCY = "EUR"

    assert format_money(Decimal("1234.5")) == "EUR 1,234.50"
    assert format_money(0) == "EUR 0.00"
    assert format_money(Decimal("1234567.891")) == "EUR 1,234,567.89"
    assert format_money(Decimal("0.005")) == "EUR 0.01"  # halves round up, as on a receipt
    assert format_money(2500, places=0) == "EUR 2,500"


def test_charts_show_money_in_the_shop_currency(settings):
    settings.SHOP_CURRENCY = "CHF"

    chart = bar_chart([("Alice", Decimal("1234.50"))], title="Top", money=True)

    assert ">CHF 1,234.50</text>" in chart  # the bar's label
    assert "<title>Alice: CHF 1,234.50</title>" in chart  # its tooltip
    assert ">CHF 0</text>" in chart  # the axis
    assert "USD" not in chart
