"""The price rule (`products.prices`): its one-pattern acceptance agrees with the rule
written out (digits, at most two places, at most ten digits before the point once
leading zeros are dropped)."""

import re

from hypothesis import given
from hypothesis import strategies as st

from products.prices import MAX_PRICE_DIGITS, all_acceptable, price_error, price_problem


def acceptable_as_written(value):
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]{1,2})?", value):
        return False
    return len(value.split(".", 1)[0].lstrip("0")) <= MAX_PRICE_DIGITS


prices_and_near_misses = st.one_of(
    st.from_regex(r"\A[0-9]{0,14}(\.[0-9]{0,4})?\Z"),
    st.from_regex(r"\A0{0,30}[0-9]{8,12}(\.[0-9]{1,3})?\Z"),
    st.text(alphabet="0123456789.-+eE, $", max_size=16),
)


@given(prices_and_near_misses)
def test_a_price_is_accepted_exactly_when_the_written_rule_accepts_it(value):
    assert (price_problem(value) is None) is acceptable_as_written(value)


@given(st.lists(prices_and_near_misses | st.sampled_from(["1\n2", "3\n", "\n", ""]), max_size=5))
def test_a_column_is_acceptable_exactly_when_each_of_its_prices_is(values):
    assert all_acceptable(values) is all(price_problem(value) is None for value in values)


def test_a_price_holding_a_newline_is_not_read_as_two():
    assert not all_acceptable(["1\n2"])
    assert all_acceptable(["1", "2"])


def test_leading_zeros_do_not_count_against_the_digits_before_the_point():
    assert price_problem("0" * 50 + "1234567890.12") is None
    assert price_problem("0" * 50 + "12345678901") == (
        f"price {'0' * 50}12345678901 is too large (at most 10 digits before the point)"
    )


def test_the_reasons_for_refusing_a_price_are_worded_for_people():
    assert price_problem("") == "missing price"
    assert price_problem("-3") == "negative price -3 (must be 0 or more)"
    assert price_problem("1.234") == "price 1.234 has more than 2 decimal places"
    assert price_error("1,234.50").startswith("Price 1,234.50 has a thousands separator")
    assert price_problem("0") is None and price_problem("00.5") is None
