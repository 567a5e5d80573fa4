"""What every app's services share: writing to a row that others may be changing or deleting.

A write to an existing row happens in a transaction that first locks the row as it
is now (`locked`); a row deleted meanwhile is the model's `DoesNotExist`, which the
API answers 404. A save that may break a unique index (`save_unique`) turns the
violation into the same `ValidationError` the form or serializer gives when it
sees the duplicate first.
"""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction


def locked(model, pk, *, no_key=False, queryset=None):
    """The row `pk` of `model`, re-read and locked for the current transaction.

    `no_key=True` takes PostgreSQL's `FOR NO KEY UPDATE`, which lets rows that
    refer to this one be written meanwhile (a customer's purchases while their
    profile changes) but still waits for, and is waited for by, a DELETE.
    Raises `model.DoesNotExist` if the row is gone. Call inside `transaction.atomic()`.
    """
    rows = model._default_manager.all() if queryset is None else queryset
    row = rows.select_for_update(no_key=no_key).filter(pk=pk).first()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.verbose_name.capitalize()} {pk} no longer exists.")
    return row


def save_unique(instance, *, field, message, taken, **save_options):
    """Saves `instance`; if a unique index refuses it and `taken()` says the value is
    in use, raises `ValidationError({field: [message]})`.

    The form or serializer checks for a duplicate first; the index settles the race
    between two writers that both passed that check.
    """
    try:
        with transaction.atomic():
            instance.save(**save_options)
    except IntegrityError:
        if taken():
            raise ValidationError({field: [message]}) from None
        raise
    return instance
