"""Writes to purchases: the one place that records, corrects and removes them.

The API, the admin and the tests all come here. Existence is checked here and
only here, on rows locked for the transaction that writes the purchase:

- the product row is read `FOR UPDATE`, so the price paid is the one in force
  when the purchase commits (a concurrent price change lands wholly before or
  after), and the product cannot be deleted under the purchase;
- the customer's row is read `FOR NO KEY UPDATE`, so the customer cannot be
  deleted before the purchase commits (the foreign key would break at commit),
  while their other purchases still go in.

Every write also changes the sales totals (`purchases.totals`) in the same
transaction, after the purchase row: the customer's and the product's, as the
purchase was and as it is. Every write takes its locks in the shop's one order
(`shop.locking`): the gate that holds writes back while the totals are rebuilt,
the customers' rows (the one the purchase belongs to and the one it moves to, in
id order), the purchase, the product, the totals.

The rules of a purchase are enforced here, for every door (API, admin, scripts):
customers buy for themselves (`check_buyer`), a quantity has a ceiling
(`check_quantity`), and a correction never undoes refunds given (`check_correction`).
`by` is the actor: a user, or None for the system itself.

A purchase deleted meanwhile is `Purchase.DoesNotExist` (the API's 404).
`user` and `product` may be given as objects or as ids.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from audit.recording import changes_between, record, record_many, values_of
from products.models import Product
from products.services import check_purchasable
from purchases import money, totals
from purchases.models import CustomerMonth, CustomerSales, Purchase, Refund
from shop.errors import Forbidden
from shop.locking import hold_off_rebuild
from shop.permissions import is_staff
from users.models import User

UNSET = object()
NO_SUCH_USER = "This user does not exist."
NO_SUCH_PRODUCT = "This product does not exist."
OWN_PURCHASES_ONLY = "Customers may only create purchases for themselves."
# Large enough for any real order, small enough that a total always fits NUMERIC(22, 2).
MAX_QUANTITY = 1_000_000
QUANTITY_TOO_LARGE = f"Ensure this value is less than or equal to {MAX_QUANTITY}."
# What the audit trail follows of a purchase (`audit.recording`).
AUDITED_FIELDS = (
    "user_id",
    "customer_email",
    "product_id",
    "product_sku",
    "product_name",
    "quantity",
    "unit_price",
)
REFUNDED_KEEPS_PRODUCT = (
    "This purchase has refunds, given at the price it was paid: it keeps its product. "
    "Delete it if it was recorded by mistake (its refunds go with it)."
)


def _pk(value):
    return getattr(value, "pk", value)


def _lock_parties(user=UNSET, product=UNSET, *, locked_emails=None):
    """Locks the customer's and the product's rows, if given: `(email, product)`.

    `locked_emails` ({user id: email}) are customers already locked: `user` is looked
    up there instead. A missing one is a `ValidationError` naming its field (both
    when both are missing).
    """
    errors, email, locked_product = {}, None, None
    if user is not UNSET:
        if locked_emails is None:
            users = User.objects.select_for_update(no_key=True).filter(pk=_pk(user))
            email = users.values_list("email", flat=True).first()
        else:
            email = locked_emails.get(_pk(user))
        if email is None:
            errors["user_id"] = [NO_SUCH_USER]
    if product is not UNSET:
        products = Product.objects.select_for_update().only("id", "sku", "name", "price", "active")
        locked_product = products.filter(pk=_pk(product)).first()
        if locked_product is None:
            errors["product_id"] = [NO_SUCH_PRODUCT]
        else:
            try:
                check_purchasable(locked_product, field="product_id")
            except ValidationError as refusal:
                errors.update(refusal.message_dict)
    if errors:
        raise ValidationError(errors)
    return email, locked_product


def _price_at(purchase, product):
    purchase.product = product
    purchase.unit_price = product.price
    purchase.product_sku = product.sku
    purchase.product_name = product.name


class _MovedMeanwhile(Exception):
    """The purchase belongs to a customer whose row this pass did not lock."""


def _locked_purchases(pks, user=UNSET):
    """The purchases `pks` (those that still exist, in id order), locked after their
    customers' rows and `user`'s (when given).

    Returns `(purchases, {user id: email})` of the customers locked. The customers'
    rows are locked first, in id order (as `users.services.delete_users` locks them),
    then the purchases, in id order. Should a purchase have moved to another customer
    between the two reads, the pass is undone to its savepoint, which lets go of its
    locks (keeping the purchase's row while waiting for that customer's would deadlock
    with whoever holds it and waits for the purchase), and made again.
    """
    while True:
        try:
            with transaction.atomic():
                wanted = Q(pk__in=Purchase.objects.filter(pk__in=pks).values("user_id"))
                if user is not UNSET:
                    wanted |= Q(pk=_pk(user))
                customers = User.objects.select_for_update(no_key=True).filter(wanted)
                emails = dict(customers.order_by("pk").values_list("pk", "email"))
                purchases = Purchase.objects.select_for_update().filter(pk__in=pks)
                current = list(purchases.order_by("pk"))
                if any(p.user_id is not None and p.user_id not in emails for p in current):
                    raise _MovedMeanwhile
                return current, emails
        except _MovedMeanwhile:
            continue


def _locked_purchase(pk, user=UNSET):
    """`_locked_purchases` of one: `Purchase.DoesNotExist` if it is gone."""
    current, emails = _locked_purchases([pk], user)
    if not current:
        raise Purchase.DoesNotExist(f"Purchase {pk} no longer exists.")
    return current[0], emails


def check_buyer(by, user):
    """A customer (a non-staff `by`) may only buy for themself: `Forbidden` otherwise.

    Decided on the ids alone, before anything is looked up, so that the answer does not
    reveal whether that user exists.
    """
    if by is not None and not is_staff(by) and _pk(user) != by.pk:
        raise Forbidden(OWN_PURCHASES_ONLY)


def check_quantity(quantity):
    """A quantity above `MAX_QUANTITY` is a `ValidationError` on `quantity`."""
    if quantity > MAX_QUANTITY:
        raise ValidationError({"quantity": [QUANTITY_TOO_LARGE]})


def check_correction(purchase, *, moves_product=False, quantity=UNSET):
    """A correction may not undo the refunds given on `purchase`: a `ValidationError` if
    it moves a purchase with refunds to another product (they were given at its price),
    or brings its quantity below the units returned or its total below the money
    refunded."""
    errors = {}
    if moves_product and (purchase.refunded_quantity or purchase.refunded_amount):
        errors["product_id"] = [REFUNDED_KEEPS_PRODUCT]
    if quantity is not UNSET and quantity < purchase.refunded_quantity:
        errors["quantity"] = [
            f"{purchase.refunded_quantity} units of this purchase have been returned: its "
            "quantity cannot be less."
        ]
    elif quantity is not UNSET:
        total = money.paid(quantity, purchase.unit_price)
        if total < purchase.refunded_amount:
            errors["quantity"] = [
                f"{purchase.refunded_amount} of this purchase has been refunded: its total "
                f"({total} for {quantity}) cannot be less."
            ]
    if errors:
        raise ValidationError(errors)


def create_purchase(*, by=None, user, product, quantity=1):
    """Records that `user` bought `quantity` of `product` at the product's current price,
    on behalf of `by` (`check_buyer`, `check_quantity`)."""
    check_buyer(by, user)
    check_quantity(quantity)
    with transaction.atomic():
        hold_off_rebuild()
        email, locked_product = _lock_parties(user, product)
        purchase = Purchase(quantity=quantity, user_id=_pk(user), customer_email=email)
        _price_at(purchase, locked_product)
        purchase.save()
        totals.apply_change(after=totals.Line.of(purchase))
        record("created", purchase, changes=changes_between({}, purchase, AUDITED_FIELDS))
    return purchase


def update_purchase(purchase, *, user=UNSET, product=UNSET, quantity=UNSET):
    """Corrects a purchase (staff only).

    Moving it to another product re-prices it at that product's current price;
    giving the product it already has changes nothing. Changing the quantity
    keeps the unit price that was paid. Moving it to another customer takes a
    new email snapshot; its refunds go with it. Refunds given are never undone
    (`check_correction`). Two corrections at once apply one after the other.
    """
    if quantity is not UNSET:
        check_quantity(quantity)
    with transaction.atomic():
        hold_off_rebuild()
        current, emails = _locked_purchase(_pk(purchase), user)
        if user is not UNSET and _pk(user) == current.user_id:
            user = UNSET
        if product is not UNSET and _pk(product) == current.product_id:
            product = UNSET
        check_correction(current, moves_product=product is not UNSET, quantity=quantity)
        email, locked_product = _lock_parties(user, product, locked_emails=emails)
        before = totals.Line.of(current)
        audited_before = values_of(current, AUDITED_FIELDS)
        changed = []
        if user is not UNSET:
            current.user_id, current.customer_email = _pk(user), email
            changed += ["user", "customer_email"]
        if product is not UNSET:
            _price_at(current, locked_product)
            changed += ["product", "unit_price", "product_sku", "product_name"]
        if quantity is not UNSET and quantity != current.quantity:
            current.quantity = quantity
            changed.append("quantity")
        if changed:
            current.save(update_fields=changed)
            totals.apply_change(before, totals.Line.of(current))
            record(
                "updated", current, changes=changes_between(audited_before, current, AUDITED_FIELDS)
            )
    return current


def delete_purchase(purchase):
    """Removes a purchase recorded by mistake (staff only); of two at once, one finds it gone."""
    with transaction.atomic():
        hold_off_rebuild()
        current, _ = _locked_purchase(_pk(purchase))
        before = totals.Line.of(current)
        refunds = list(current.refunds.all())
        going = [totals.Refunded.given(refund, -1) for refund in refunds]
        record_many("deleted", [current, *refunds], snapshot=True)
        current.delete()
        totals.apply_change(before=before, refunded=going)
    return current


def delete_purchases(purchases):
    """Removes several purchases at once (staff only; the admin's "delete selected"), in
    one transaction, their locks taken in the shop's order; those deleted meanwhile are
    skipped. Returns the purchases deleted."""
    with transaction.atomic():
        hold_off_rebuild()
        current, _ = _locked_purchases([_pk(purchase) for purchase in purchases])
        refunds = list(Refund.objects.filter(purchase__in=[purchase.pk for purchase in current]))
        going = [totals.Refunded.given(refund, -1) for refund in refunds]
        Purchase.objects.filter(pk__in=[purchase.pk for purchase in current]).delete()
        totals.apply_change(
            removed=[totals.Line.of(purchase) for purchase in current], refunded=going
        )
        record_many("deleted", [*current, *refunds], snapshot=True)
    return current


def detach_customers(users):
    """Before customers' rows are deleted (they are locked): detaches their purchases, then
    removes their sales totals and their months, in the shop's lock order
    (`users.services.delete_users`)."""
    ids = [_pk(user) for user in users]
    detached = dict(Purchase.objects.filter(user__in=ids).values_list("pk", "user_id"))
    Purchase.objects.filter(user__in=ids).update(user=None)
    record_many(
        "updated",
        [Purchase(pk=pk) for pk in detached],
        changes=lambda purchase: {"user_id": [detached[purchase.pk], None]},
        reason="its customer's account was deleted",
    )
    CustomerSales.objects.filter(user__in=ids).delete()
    CustomerMonth.objects.filter(user__in=ids).delete()
