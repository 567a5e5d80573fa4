"""Writes to users: the one place that creates, changes and removes accounts, and issues tokens.

The API, the admin and the management commands all come here, so every rule
holds whichever door a change comes through: the email's uniqueness under a
race, the password validators, a new password signing the user out everywhere else,
"never leave the shop without staff", "only an Owner manages another staff member, only
a superuser a superuser", and a row deleted meanwhile not coming back.

`by` is the user acting (the API's and the admin's `request.user`); `None` is the
shop itself (management commands, run by whoever holds the server).
"""

from dataclasses import dataclass, field

from django.contrib.auth import user_logged_in
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from knox.models import AuthToken

from purchases.services import detach_customers
from shop.errors import Conflict, Forbidden
from shop.locking import hold_off_rebuild
from shop.services import locked, save_unique
from users.models import User, email_key
from users.sign_in import count_attempt

DUPLICATE_EMAIL = "A user with that email address already exists."
LAST_STAFF = (
    "{user} is the last active staff member: the shop would be left without anyone to run "
    "it. Give another account staff status first."
)
WRONG_CURRENT_PASSWORD = "Your current password is not correct."
ONLY_SUPERUSERS = "Only a superuser may change or remove a superuser's account or tokens."
ONLY_STAFF_MANAGERS = (
    "Only an Owner (who may manage staff) may change or remove another staff member's "
    "account, tokens or second factor, or give staff status."
)
ONLY_SUPERUSERS_GRANT = "Only a superuser may make another superuser."
# The permission of those who manage staff and their roles (the Owner role).
MANAGE_STAFF = "users.manage_staff"
# Fields that decide whether an account is an active staff member.
STAFF_FIELDS = ("is_staff", "is_active")
# What signs an account in or decides its powers: a superuser's are a superuser's to change.
ACCOUNT_FIELDS = frozenset(
    {"email", "email_key", "password", "is_staff", "is_active", "is_superuser"}
)


def may_manage(actor, target):
    """Whether `actor` may change `target`'s sign-in and powers (its email, password, staff
    and active flags, tokens, second factor) or delete it: a customer's or their own, as
    their role lets them reach the account at all; another staff member's, only with
    `MANAGE_STAFF` (an Owner); a superuser's, only a superuser. `actor` None is the shop
    itself (a management command)."""
    if actor is None or actor.is_superuser:
        return True
    if target.is_superuser:
        return False
    if target.is_staff and target.pk != actor.pk:
        return actor.has_perm(MANAGE_STAFF)
    return True


def ensure_may_manage(actor, target):
    """Raises `Forbidden` unless `may_manage(actor, target)`."""
    if not may_manage(actor, target):
        raise Forbidden(ONLY_SUPERUSERS if target.is_superuser else ONLY_STAFF_MANAGERS)


def ensure_may_grant(actor, fields):
    """Raises `Forbidden` if `fields` give or take staff status without `MANAGE_STAFF`, or
    superuser status without being a superuser. `actor` None is the shop itself."""
    if actor is None or actor.is_superuser:
        return
    if "is_superuser" in fields:
        raise Forbidden(ONLY_SUPERUSERS_GRANT)
    if "is_staff" in fields and not actor.has_perm(MANAGE_STAFF):
        raise Forbidden(ONLY_STAFF_MANAGERS)


def _set_password(user, password):
    """Sets `user`'s password (unsaved) once the validators accept it; None makes it unusable."""
    if password is None:
        user.set_unusable_password()
        return
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    user.set_password(password)


def check_current_password(user, current, *, address):
    """Raises `ValidationError` on `current_password` unless `current` is `user`'s password.

    The check counts against the sign-in limits of the account and of `address`, the
    client's (`users.sign_in`): `RateLimited` past them. Made outside any transaction,
    so that the count stays when the change is refused.
    """
    count_attempt(user.email, address)
    if not user.check_password(current):
        raise ValidationError({"current_password": [WRONG_CURRENT_PASSWORD]})


def change_password(user, new, *, current=None, by=None, keep_token=None, address=None):
    """Gives `user` the password `new` (None: an unusable one, no password sign-in) and
    signs them out everywhere else: every API token of theirs but `keep_token` (the one
    the change was made with) is revoked, as Django ends their other sessions.

    Every door that changes a password comes here (the API, the admin's password
    pages, `manage.py changepassword`); a `queryset.update()` of the column is no door
    and revokes nothing. `current`, when given, must be the user's password now
    (`check_current_password`, counted from `address`). Only a superuser changes a
    superuser's password (`Forbidden`); a user deleted meanwhile is `User.DoesNotExist`.
    """
    if current is not None:
        check_current_password(user, current, address=address)
    with transaction.atomic():
        row = locked(User, user.pk, no_key=True)
        ensure_may_manage(by, row)
        _set_password(row, new)
        _save(row, update_fields=["password"])
        _revoke_all_but(row, keep_token)
    return row


def _revoke_all_but(user, keep_token):
    """Revokes `user`'s API tokens but `keep_token` (None: all of them)."""
    tokens = AuthToken.objects.filter(user=user)
    if keep_token is not None:
        tokens = tokens.exclude(pk=keep_token.pk)
    tokens.delete()


def _save(user, **save_options):
    writes_email = user.pk is None or "email" in save_options.get("update_fields", ["email"])
    if writes_email and User.objects.email_taken(user.email, exclude=user if user.pk else None):
        # The unique index of the key cannot see a row without one (written by the previous
        # release, until fill_email_keys): `email_taken` does.
        raise ValidationError({"email": [DUPLICATE_EMAIL]})
    return save_unique(
        user,
        field="email",
        message=DUPLICATE_EMAIL,
        taken=lambda: User.objects.email_taken(user.email, exclude=user if user.pk else None),
        **save_options,
    )


def create_user(*, email, first_name="", last_name="", gender="", password=None, **flags):
    """A new account; without a password it cannot sign in until staff set one.

    `flags` are the admin's and the commands' (`is_staff`, `is_superuser`,
    `is_active`); the API never passes them.
    """
    email = User.objects.normalize_email(email)
    user = User(
        email=email,
        email_key=email_key(email),
        first_name=first_name,
        last_name=last_name,
        gender=gender,
        **flags,
    )
    _set_password(user, password)
    return _save(user)


def _lock_with_active_staff(user):
    """Locks `user`'s row and the active staff's, in id order (no deadlock between two
    staff changing each other): `(user as it is now, {id: row} of all of them)`.

    Raises `User.DoesNotExist` if `user` has been deleted meanwhile.
    """
    rows = _lock_users_with_active_staff([user.pk])
    if user.pk not in rows:
        raise User.DoesNotExist(f"User {user.pk} no longer exists.")
    return rows[user.pk], rows


def _lock_users_with_active_staff(pks):
    """Locks the rows of the users `pks` and of the active staff, in one statement in id
    order: `{id: row}` of those that still exist."""
    rows = User.objects.select_for_update().filter(Q(pk__in=pks) | Q(is_staff=True, is_active=True))
    return {row.pk: row for row in rows.order_by("pk")}


def _ensure_staff_remains(rows, leaving):
    """Raises `Conflict` if the users `leaving` (rows) are the last active staff of `rows`."""
    leaving = [leaving] if isinstance(leaving, User) else leaving
    gone = {user.pk for user in leaving}
    staff_leaving = [user for user in leaving if user.is_staff and user.is_active]
    others = [u for pk, u in rows.items() if pk not in gone and u.is_staff and u.is_active]
    if staff_leaving and not others:
        raise Conflict(LAST_STAFF.format(user=staff_leaving[0].email))


def update_user(
    user, *, by=None, keep_token=None, password=None, current_password=None, address=None, **fields
):
    """Changes profile fields (and flags, from the admin) and, when given, the password.

    The row is locked and re-read first, so two changes apply one after the other
    and a user deleted meanwhile stays deleted (`User.DoesNotExist`). Only the
    fields given are written. A new password is set as `change_password` sets it
    (`current_password` checked when given, counted from `address`; every other API
    token revoked but `keep_token`), in the same transaction as the other fields.
    Taking staff status or activity from the last active staff member is a `Conflict`.
    Deactivating a user revokes all their API tokens, so reactivating them later does
    not bring old tokens back. Changing a superuser's `ACCOUNT_FIELDS` takes a superuser
    (`ensure_may_manage`): `Forbidden`.
    """
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"])
        fields["email_key"] = email_key(fields["email"])
    if password is not None and current_password is not None:
        check_current_password(user, current_password, address=address)
    with transaction.atomic():
        if any(name in fields for name in STAFF_FIELDS):
            current, rows = _lock_with_active_staff(user)
            loses_staff = not (fields.get("is_staff", True) and fields.get("is_active", True))
            if loses_staff:
                _ensure_staff_remains(rows, current)
        else:
            current = locked(User, user.pk, no_key=True)
        if ACCOUNT_FIELDS.intersection(fields) or password is not None:
            ensure_may_manage(by, current)
            ensure_may_grant(by, fields)
        deactivated = current.is_active and fields.get("is_active", True) is False
        for name, value in fields.items():
            setattr(current, name, value)
        changed = list(fields)
        if password is not None:
            _set_password(current, password)
            changed.append("password")
        if changed:
            _save(current, update_fields=changed)
        if deactivated:
            # An inactive user's tokens are refused; revoked, they stay dead on reactivation.
            revoke_tokens(current)
        elif password is not None:
            _revoke_all_but(current, keep_token)
    return current


def delete_user(user, *, by=None):
    """Deletes an account; their purchases stay, detached (`SET_NULL`, with the email kept).

    The row is locked before anything that refers to it is touched, so a purchase
    being recorded for this user either commits first (and is detached with the
    others) or finds the user gone (a 400), never a broken reference at commit. A
    rebuild of the sales totals under way is waited for (`shop.locking`).
    Deleting the last active staff member is a `Conflict`; staff may delete their
    own account while another active staff member remains. Only a superuser deletes a
    superuser (`Forbidden`). A user deleted meanwhile is `User.DoesNotExist`.
    """
    deleted = delete_users([user], by=by)
    if not deleted:
        raise User.DoesNotExist(f"User {user.pk} no longer exists.")
    return deleted[0]


def delete_users(users, *, by=None):
    """Deletes several accounts at once (the admin's "delete selected"), all or none, as
    `delete_user` deletes one; those deleted meanwhile are skipped. Returns the users
    deleted.

    Every lock is taken in the shop's order (`shop.locking`): the rebuild's gate, all
    their rows and the active staff's in one statement, in id order, then their
    purchases (detached) and sales totals, then what they own and their own rows.
    """
    with transaction.atomic():
        hold_off_rebuild()  # their sales totals go with them
        rows = _lock_users_with_active_staff([user.pk for user in users])
        current = [rows[user.pk] for user in users if user.pk in rows]
        for user in current:
            ensure_may_manage(by, user)
        _ensure_staff_remains(rows, current)
        detach_customers(current)
        User.objects.filter(pk__in=[user.pk for user in current]).delete()
    return current


def issue_token(user, *, by=None, request=None, valid_for=None):
    """A new API token for `user`: `(AuthToken, token text)`; the text is shown once.

    It expires after `valid_for` (a timedelta), or after knox's `TOKEN_TTL` (the API's).

    The user's expired tokens are swept here (rather than on every request) and
    Django's `user_logged_in` is sent, whichever way the token is asked for (the
    API, `ensure_staff`, `issue_token`). The user's row is locked against deletion
    so that the token never points at a user deleted at the same moment. Staff issuing
    a token for someone else (the admin) is `by` them: never for a superuser unless
    they are one.
    """
    with transaction.atomic():
        current = locked(User, user.pk, no_key=True)
        ensure_may_manage(by, current)
        AuthToken.objects.filter(user=current, expiry__lt=timezone.now()).delete()
        if valid_for is None:
            instance, token = AuthToken.objects.create(user=current)
        else:
            instance, token = AuthToken.objects.create(user=current, expiry=valid_for)
        # Inside the lock: its receiver (`update_last_login`) saves the user's row.
        user_logged_in.send(sender=User, request=request, user=current)
    return instance, token


def revoke_tokens(user, *, only=None, by=None):
    """Revokes `user`'s API tokens — `only` that one (signing out), or all (everywhere);
    returns how many. A token revoked meanwhile counts for nothing, and is no error.
    Only a superuser revokes a superuser's tokens (`Forbidden`)."""
    ensure_may_manage(by, user)
    tokens = AuthToken.objects.filter(user=user)
    if only is not None:
        tokens = tokens.filter(pk=only.pk)
    revoked, _ = tokens.delete()
    return revoked


@dataclass
class FilledKeys:
    """What `fill_email_keys` did: keys written, and the accounts it could not give one."""

    written: int = 0
    collisions: list[str] = field(default_factory=list)


def fill_email_keys(*, batch_size=1000):
    """Gives every account the key of its email (`email_key`), in batches of `batch_size`
    rows, each its own short transaction; running it again changes nothing.

    The previous release does not know the key: the accounts it creates have none, and an
    email it changes keeps its old key. Run right after `migrate` (the rows before it) and
    once no instance runs that release (what it wrote meanwhile): deploy/release.py does
    both. An account whose key another account already has (one address in two spellings,
    which the previous release let through) is left as it is and named in `collisions`,
    for a person to merge or rename, then run this again.
    """
    filled = FilledKeys()
    after = 0
    while True:
        rows = list(
            User.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "email", "email_key")[:batch_size]
        )
        if not rows:
            return filled
        after = rows[-1][0]
        wanted = {
            pk: (email, email_key(email))
            for pk, email, stored in rows
            if email_key(email) != stored
        }
        if wanted:
            filled.written += _write_keys(wanted, filled.collisions)


def _write_keys(wanted, collisions):
    """Writes `{pk: (email, key)}` but the keys another account holds; returns how many.

    A row whose email changed meanwhile is left for the next run (its key is the new
    email's, or the next run computes it)."""
    holders = {
        key: (pk, email)
        for pk, email, key in User.objects.filter(
            email_key__in=[key for _, key in wanted.values()]
        ).values_list("pk", "email", "email_key")
    }
    writable = {}
    for pk, (email, key) in wanted.items():
        holder = holders.get(key)
        if holder is not None and holder[0] != pk:
            collisions.append(f"{holder[1]!r} (id {holder[0]}) and {email!r} (id {pk})")
            continue
        holders[key] = (pk, email)
        writable[pk] = (email, key)
    if not writable:
        return 0
    try:
        with transaction.atomic():
            return _update_keys(writable)
    except IntegrityError:
        # A key taken meanwhile (a sign-up, an email changed): one row at a time.
        written = 0
        for pk, (email, key) in writable.items():
            try:
                with transaction.atomic():
                    written += _update_keys({pk: (email, key)})
            except IntegrityError:
                collisions.append(f"{email!r} (id {pk}), whose key another account took meanwhile")
        return written


def _update_keys(writable):
    """Each row its key, if its email is still the one the key was made from; returns how
    many rows now have theirs. One statement per row, sent together (`executemany`): an
    UPDATE with a CASE of every row of the batch costs rows times rows."""
    table = connection.ops.quote_name(User._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET email_key = %s WHERE id = %s AND email = %s",
            [(key, pk, email) for pk, (email, key) in writable.items()],
        )
    now = User.objects.filter(pk__in=list(writable)).values_list("pk", "email_key")
    return sum(1 for pk, stored in now if stored == writable[pk][1])
