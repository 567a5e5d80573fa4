"""Writes to the catalogue one product at a time, and the rules of a product's data.

The rules of a product's fields live here: one function per kind of field
(`clean_text`, `checked_price`), gathered for a whole product by
`check_product_fields` and, with the duplicate-SKU check, `clean_product`. The API's
serializer and the admin's form call `clean_product`, and `create_product` /
`update_product` call it again before they write; the CSV backfill's reader calls the
field rules for each cell (its duplicates are found in bulk, by the database). A file's
column of cells is first screened at once (`written_clean`, `prices_written_clean`): a
column the screen passes holds only values the rules accept as they are written, and the
reader takes it without calling the rules cell by cell.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from audit.recording import changes_between, record, record_many, values_of
from products.models import Product
from products.prices import all_acceptable, price_error, price_problem
from products.text import invisible_characters, trim
from shop.errors import Conflict
from shop.locking import hold_off_rebuild
from shop.services import locked, save_unique

DUPLICATE_SKU = "A product with that SKU already exists."
# What the audit trail follows of a product (`audit.recording`): its key and its data.
AUDITED_FIELDS = ("sku", *Product.DATA_FIELDS)
# A description is text without a column limit; it is kept under 1 MiB (about what the API
# takes in one request body).
MAX_DESCRIPTION = 1024 * 1024
REQUIRED = ("sku", "name", "price")
# The longest value of each text field: its column's `max_length`, or the description's cap.
MAX_LENGTHS = {
    name: Product._meta.get_field(name).max_length or MAX_DESCRIPTION
    for name in ("sku", "name", "description", "category", "metal_type", "stone_type")
}


def price_text(value):
    """A price as written, for the price rule: a JSON number's own text (`shop.parsers`
    keeps it); a `Decimal` a program computed, in plain digits (`1E+2` is 100)."""
    if isinstance(value, str):
        return trim(value)
    if text := getattr(value, "text", None):
        return text
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def checked_price(value):
    """The text of `value` under the price rule (`products.prices`): a plain decimal >= 0
    with at most 2 places, written as such (`"-0"`, `"1e3"`, `"+5"` are refused, never
    re-read). Otherwise `ValidationError`, with the reason as `params["problem"]`."""
    text = price_text(value)
    if problem := price_problem(text):
        # A `%` of the client's text is not a placeholder for `params`.
        message = price_error(text).replace("%", "%%")
        raise ValidationError(message, code="price", params={"problem": problem, "field": "price"})
    return text


def parse_price(value):
    """`value` as a `Decimal`, once `checked_price` has accepted it."""
    return Decimal(checked_price(value))


def _problem(message, code, **params):
    return ValidationError(message, code=code, params=params)


def _text_problem(name, value, limit):
    """The first rule `value` breaks as the text field `name`, or None."""
    if not value and name in REQUIRED:
        return _problem("This field may not be blank.", "blank", field=name)
    if len(value) > limit:
        return _problem(
            f"Ensure this field has no more than {limit} characters.",
            "max_length",
            field=name,
            limit=limit,
            length=len(value),
        )
    if name == "sku" and (hidden := invisible_characters(value)):
        return _problem(
            f"The SKU contains an invisible character ({hidden}).",
            "invisible",
            field=name,
            hidden=hidden,
            value=value,
        )
    return None


def clean_text(name, value):
    """`value` as the text field `name` (a key of `MAX_LENGTHS`) keeps it, or
    `ValidationError` for the first rule it breaks, naming the field as `params["field"]`.

    Text is trimmed of spaces and invisible format characters at the ends
    (`products.text`), and a SKU may not hold one inside; `sku` and `name` may not be
    blank; no text is longer than its column.
    """
    value = trim(value) if value is not None else ""
    limit = MAX_LENGTHS[name]
    # Called for each cell of a catalogue file's unscreened batches: the usual value passes
    # these few checks.
    suspect = not value or len(value) > limit or (name == "sku" and not value.isascii())
    if suspect and (problem := _text_problem(name, value, limit)):
        raise problem
    return value


def written_clean(name, values):
    """Whether `clean_text(name, value)` gives back each of `values` (texts) as it is, with
    no refusal: a screen for a column of a catalogue file, run in C over the whole column.

    False only says that some value may be changed or refused: `clean_text` tells, value
    by value. A value passes when it has no space at either end and is ASCII (`trim`
    keeps it), or is found untouched by `trim` itself; is not blank where the field is
    required; fits the field; and, in a SKU, is ASCII (the invisible characters' rule).
    """
    values = list(values)
    if not all(map(str.isascii, values)) and (
        name == "sku" or any(trim(value) != value for value in values if not value.isascii())
    ):
        return False
    if list(map(str.strip, values)) != values:
        return False
    if name in REQUIRED and not all(values):
        return False
    return max(map(len, values), default=0) <= MAX_LENGTHS[name]


def prices_written_clean(values):
    """Whether `checked_price` accepts each of `values` (texts) and gives it back as it is:
    the usual prices, told by one pattern over the whole column (an acceptable price has
    no space to trim). False: ask `checked_price`, value by value."""
    return all_acceptable(values)


def check_product_fields(fields, *, partial=False):
    """The product's `fields` cleaned, or `ValidationError({field: [message]})` (without the
    duplicate-SKU check, which needs the database: `clean_product`).

    Text by `clean_text`, the price by `parse_price`; `sku`, `name` and `price` are
    required unless `partial`. Each message has a `code` and `params` (the CSV reader,
    which calls the field rules itself, words them its own way).
    """
    cleaned, errors = dict(fields), {}
    if not partial:
        for name in REQUIRED:
            if name not in fields:
                errors[name] = _problem("This field is required.", "required", field=name)
    for name, value in fields.items():
        try:
            if name in MAX_LENGTHS:
                cleaned[name] = clean_text(name, value)
            elif name == "price":
                cleaned[name] = parse_price(value)
        except ValidationError as refused:
            errors[name] = refused
    if errors:
        raise ValidationError({name: [problem] for name, problem in errors.items()})
    return cleaned


def clean_product(fields, *, instance=None, partial=False):
    """`check_product_fields`, and the SKU not another product's (`instance` is the
    product being changed, None for a new one)."""
    try:
        cleaned = check_product_fields(fields, partial=partial)
    except ValidationError as refused:
        errors = refused.error_dict
    else:
        errors = {}
    sku = fields.get("sku")
    if "sku" not in errors and sku is not None and _sku_taken(trim(sku), instance):
        errors["sku"] = [ValidationError(DUPLICATE_SKU, code="unique")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _sku_taken(sku, instance):
    products = Product.objects.filter(sku=sku)
    if instance is not None and instance.pk is not None:
        products = products.exclude(pk=instance.pk)
    return products.exists()


def _save(product, **save_options):
    return save_unique(
        product,
        field="sku",
        message=DUPLICATE_SKU,
        taken=lambda: _sku_taken(product.sku, product),
        **save_options,
    )


def create_product(**fields):
    with transaction.atomic():
        product = _save(Product(**clean_product(fields)))
        record("created", product, changes=changes_between({}, product, AUDITED_FIELDS))
    return product


def update_product(product, **fields):
    """Changes the fields given, on the row as it is now; a product deleted meanwhile
    stays deleted (`Product.DoesNotExist`)."""
    fields = clean_product(fields, instance=product, partial=True)
    with transaction.atomic():
        current = locked(Product, product.pk)
        before = values_of(current, fields)
        for name, value in fields.items():
            setattr(current, name, value)
        if fields:
            _save(current, update_fields=[*fields, "updated_at"])
            if changes := changes_between(before, current, fields):
                record("updated", current, changes=changes)
    return current


def set_active(products, active):
    """Discontinues (`active=False`) or makes available again several products at once
    (the admin's list actions); returns how many changed. Their rows are locked in one
    statement, in id order (`shop.locking`, step 5); those deleted meanwhile are skipped."""
    with transaction.atomic():
        rows = Product.objects.select_for_update().filter(pk__in=[p.pk for p in products])
        locked_rows = rows.order_by("pk").values_list("pk", "active")
        changing = [pk for pk, was_active in locked_rows if was_active != active]
        Product.objects.filter(pk__in=changing).update(active=active, updated_at=timezone.now())
        record_many(
            "updated",
            [Product(pk=pk) for pk in changing],
            changes=lambda product: {"active": [not active, active]},
        )
    return len(changing)


def check_purchasable(product, *, field="product"):
    """`ValidationError` (on `field`) when `product` is discontinued: it cannot be bought.
    For the purchase's service, on the product row it has locked."""
    if not product.active:
        raise ValidationError(
            {
                field: [
                    ValidationError(
                        f"Product {product.pk} ({product.sku}) is discontinued and can no "
                        "longer be bought.",
                        code="discontinued",
                    )
                ]
            }
        )


def delete_product(product):
    """Deletes a product, unless purchases point to it (financial records): `Conflict`.

    The row is locked first: a purchase being recorded holds the same lock until it
    commits, so the check for purchases sees it (a 409), or the purchase finds the
    product gone (a 400); the foreign key never breaks at commit. A product deleted
    meanwhile is `Product.DoesNotExist`.
    """
    deleted = delete_products([product])
    if not deleted:
        raise Product.DoesNotExist(f"Product {product.pk} no longer exists.")
    return deleted[0]


def delete_products(products):
    """Deletes several products at once (the admin's "delete selected"), all or none, as
    `delete_product` deletes one; those deleted meanwhile are skipped. Returns the
    products deleted. Their rows are locked in one statement, in id order, after the
    rebuild's gate (`shop.locking`)."""
    with transaction.atomic():
        hold_off_rebuild()  # their sales totals go with them
        rows = Product.objects.select_for_update().filter(pk__in=[p.pk for p in products])
        current = list(rows.order_by("pk"))
        try:
            Product.objects.filter(pk__in=[p.pk for p in current]).delete()
        except ProtectedError as refusal:
            in_use = {purchase.product_id for purchase in refusal.protected_objects}
            product = next(p for p in current if p.pk in in_use)
            raise Conflict(
                f"Product {product.pk} ({product.sku}) has purchases and cannot be deleted."
            ) from None
        record_many("deleted", current, snapshot=True)
    return current
