"""How the back office writes an amount of money: the shop's currency, then the amount."""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings


def format_money(amount, places=2):
    """`amount` as "USD 1,234.50": `SHOP_CURRENCY`, thousands separators, `places` decimals.

    The currency is read at each call, so a changed setting (or a test's override)
    shows at once. Halves round away from zero, as on a receipt, not to even.
    """
    exponent = Decimal(1).scaleb(-places)
    rounded = Decimal(str(amount)).quantize(exponent, rounding=ROUND_HALF_UP)
    return f"{settings.SHOP_CURRENCY} {rounded:,.{places}f}"
