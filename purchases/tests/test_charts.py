"""The sales page's SVG charts: well-formed, proportional, and safe with any label."""

from decimal import Decimal
from xml.etree import ElementTree

from purchases.charts import bar_chart, line_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg):
    return ElementTree.fromstring(str(svg))


def test_bar_lengths_are_proportional_to_the_values():
    svg = parse(bar_chart([("Alice", Decimal("200.00")), ("Bob", Decimal("50.00"))], title="Top"))

    bars = [float(rect.get("width")) for rect in svg.iter(f"{SVG}rect")]
    assert len(bars) == 2
    assert abs(bars[0] / bars[1] - 4) < 0.01


def test_labels_are_escaped():
    svg = bar_chart([('<script>alert("x")</script> & co', 3)], title="<b>Top</b>")

    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    parse(svg)  # still well-formed XML


def test_empty_data_says_so_instead_of_drawing():
    assert "nothing in this period" in bar_chart([], title="Top customers")
    assert "nothing in this period" in line_chart([], title="Revenue")


def test_all_zero_values_do_not_divide_by_zero():
    svg = parse(bar_chart([("A", 0), ("B", 0)], title="Top"))

    assert len(list(svg.iter(f"{SVG}rect"))) == 2


def test_line_has_one_point_per_day_and_the_highest_is_at_the_top():
    days = [("2026-01-01", Decimal("10")), ("2026-01-02", Decimal("40")), ("2026-01-03", 0)]

    svg = parse(line_chart(days, title="Revenue per day"))

    circles = list(svg.iter(f"{SVG}circle"))
    assert len(circles) == 3
    ys = [float(c.get("cy")) for c in circles]
    assert ys[1] == min(ys) and ys[2] == max(ys)


def test_single_point_line_is_drawn():
    svg = parse(line_chart([("2026-01-01", Decimal("5"))], title="Revenue"))

    assert len(list(svg.iter(f"{SVG}circle"))) == 1
