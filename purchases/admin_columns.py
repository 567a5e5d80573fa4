"""How the admin shows a purchase's money and a list of refunds: columns and a table that the
purchase pages and the customer's page share."""

from django.contrib import admin
from django.contrib.admin.utils import display_for_value
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from purchases import money
from shop.money import format_money


class MoneyColumns:
    """A purchase's price and total in the shop's currency, sortable by the amounts, and its
    quantity with thousands separators."""

    @admin.display(description="unit price", ordering="unit_price")
    def paid_unit_price(self, purchase):
        return format_money(purchase.unit_price)

    @admin.display(description="total", ordering=money.paid_expression())
    def paid_total(self, purchase):
        return format_money(purchase.total)

    @admin.display(description="quantity", ordering="quantity")
    def units(self, purchase):
        return f"{purchase.quantity:,}"


def refunds_table(refunds, *, with_purchase):
    """Refunds as a small read-only table (newest first, as given), or "No refunds."; each
    row links to its purchase when `with_purchase` (a customer's page)."""
    heads = ["date", *(["purchase"] if with_purchase else []), "units returned", "amount"]
    heads += ["reason", "note", "given by"]
    rows = []
    for refund in refunds:
        cells = [display_for_value(refund.created_at, "")]
        if with_purchase:
            url = reverse("admin:purchases_purchase_change", args=[refund.purchase_id])
            cells.append(format_html('<a href="{}">#{}</a>', url, refund.purchase_id))
        cells += [f"{refund.quantity:,}", format_money(refund.amount)]
        cells += [refund.get_reason_display(), refund.note, refund.created_by_email]
        rows.append(format_html_join("", "<td>{}</td>", ((cell,) for cell in cells)))
    if not rows:
        return "No refunds."
    return format_html(
        '<table class="refunds"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>',
        format_html_join("", "<th>{}</th>", ((head,) for head in heads)),
        format_html_join("", "<tr>{}</tr>", ((row,) for row in rows)),
    )
