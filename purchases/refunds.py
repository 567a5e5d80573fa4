"""Refunds: the one place that gives money back on a purchase, with or without units returned.

A refund takes the locks of a purchase correction, in the shop's order (`shop.locking`):
the purchase writes' gate, the rows of the purchase's customer and of the staff member
giving the refund (in id order: the refund names them, so neither can be deleted under
it), the purchase's row `FOR UPDATE`, then the sales totals. What remains to refund is
read from the locked row, so refunds racing each other on one purchase apply one after
the other and can never exceed it together. A purchase deleted meanwhile is
`Purchase.DoesNotExist` (the API's 404).

What remains of a purchase: its units not yet returned (`quantity` -
`refunded_quantity`) and its money not yet refunded (`total` - `refunded_amount`).
Both are kept on the purchase row in the refund's transaction, and so are the sales
totals (`purchases.totals`), which count money net of refunds and units net of returns.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.recording import changes_between, record, values_of
from products.services import parse_price
from purchases import money, totals
from purchases.models import Refund
from purchases.services import UNSET, _locked_purchase, _pk
from shop.locking import hold_off_rebuild

REASONS = ", ".join(Refund.Reason.values)
AMOUNT_NOT_POSITIVE = "The amount refunded must be more than 0."
NOTHING_TO_REFUND = "Give the units returned (quantity), the money refunded (amount), or both."
# What a refund changes on its purchase, and its audit event records.
REFUNDED_FIELDS = ["refunded_quantity", "refunded_amount"]


def refund_purchase(purchase, *, by, quantity=None, amount=None, reason, note=""):
    """Records a refund of `purchase` given by `by` (a staff member) and returns it.

    - `quantity` alone: that many units come back, refunded at the unit price paid;
    - `quantity` and `amount`: the units come back and `amount` is what is refunded for
      them (less a restocking fee, say);
    - `amount` alone: money only, no unit comes back.

    Neither may exceed what remains of the purchase. `amount` is a `Decimal` or its text,
    held to the price rule (`products.services.parse_price`), and more than 0. `reason`
    is one of `Refund.Reason`; `note` is free text. A `ValidationError` names the field
    at fault.
    """
    amount = _check_request(quantity, amount, reason, note)
    with transaction.atomic():
        hold_off_rebuild()
        current, emails = _locked_purchase(_pk(purchase), UNSET if by is None else by)
        refunded = _money_refunded(current, quantity, amount)
        before = totals.Line.of(current)
        refund = Refund.objects.create(
            purchase=current,
            quantity=quantity or 0,
            amount=refunded,
            reason=reason,
            note=note,
            # A staff member deleted meanwhile is named by their email only, as after.
            created_by_id=by.pk if by is not None and by.pk in emails else None,
            created_by_email="" if by is None else emails.get(by.pk, by.email),
        )
        was = values_of(current, REFUNDED_FIELDS)
        current.refunded_quantity += refund.quantity
        current.refunded_amount += refund.amount
        current.save(update_fields=REFUNDED_FIELDS)
        record(
            "refunded",
            current,
            changes=changes_between(was, current, REFUNDED_FIELDS),
            reason=f"refund {refund.pk}, {reason}" + (f": {note}" if note else ""),
        )
        totals.apply_change(
            before, totals.Line.of(current), refunded=[totals.Refunded.given(refund)]
        )
    return refund


def _check_request(quantity, amount, reason, note):
    """The refund's own fields, before anything is locked: the amount as a `Decimal` (or
    None), or a `ValidationError` naming every field at fault."""
    errors = {}
    if quantity is None and amount is None:
        raise ValidationError(NOTHING_TO_REFUND)
    if quantity is not None and (
        isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1
    ):
        errors["quantity"] = ["The units returned must be a whole number, at least 1."]
    if amount is not None:
        try:
            amount = parse_price(amount)
        except ValidationError as error:
            errors["amount"] = error.messages
        else:
            if amount <= 0:
                errors["amount"] = [AMOUNT_NOT_POSITIVE]
    if reason not in Refund.Reason.values:
        errors["reason"] = [f"The reason must be one of: {REASONS}."]
    if not isinstance(note, str):
        errors["note"] = ["The note must be text."]
    if errors:
        raise ValidationError(errors)
    return amount


def _money_refunded(purchase, quantity, amount):
    """What the refund gives back, checked against what remains of the (locked) purchase."""
    if quantity is not None and quantity > purchase.units_remaining:
        raise ValidationError({"quantity": [_units_left(purchase)]})
    refunded = amount if amount is not None else money.paid(quantity, purchase.unit_price)
    left = purchase.net_total
    if refunded > left:
        if amount is not None:
            message = f"Only {left} of the {purchase.total} paid remains to be refunded."
        else:
            message = (
                f"These units are worth {refunded} at the unit price paid, but only {left} of "
                f"the {purchase.total} paid remains to be refunded: give an amount of at most "
                f"{left} for them."
            )
        raise ValidationError({"amount" if amount is not None else "quantity": [message]})
    return refunded


def _units_left(purchase):
    if purchase.units_remaining == 0:
        return f"All {purchase.quantity} units bought have been returned already."
    return (
        f"Only {purchase.units_remaining} of the {purchase.quantity} units bought remain "
        "to be returned."
    )
