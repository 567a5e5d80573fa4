"""A second factor for staff: a code from an authenticator app (TOTP, RFC 6238), or a
single-use recovery code, after the password (django-otp's devices).

Every staff account needs one, at every door that gives staff powers: the admin
(`shop.admin_site`), `POST /auth/token` (`users.serializers`) and the browsable API's
sessions (`shop.authentication`). Customers have none. `manage.py issue_token` and
`ensure_staff` (shell access) need none.

A staff member enrols once: `pending_app(user)` gives the secret to put in the app (a QR
code of its `otpauth://` URI), `enrol(…)` confirms it with a current code and makes the
recovery codes, shown once. Then `verify(…)` checks a code at each sign-in. Every code
checked counts against the sign-in limits (`users.sign_in.count_attempt`), like a
password; each device also refuses codes for 1, 2, 4… seconds after a wrong one
(django-otp's throttle). A TOTP code is accepted once (a device remembers the last time
step it accepted); a recovery code is deleted when used. `reset(…)` removes a staff
member's devices (a lost phone): they enrol again at their next sign-in.

Enrolments, resets and wrong codes are logged to `shop.security`.

Lock order: the user's row, then their devices (as deleting a user does).
"""

import logging
import re

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from shop.errors import Conflict, RateLimited, SecondFactorNeeded, SecondFactorRejected
from shop.permissions import is_staff
from shop.services import locked
from users.models import User
from users.services import ensure_may_manage
from users.sign_in import count_attempt

logger = logging.getLogger("shop.security")

RECOVERY_CODES = 10
APP_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"
ALREADY_ENROLLED = "{user} already has an authenticator app; a superuser can reset it."
NOT_ENROLLED = (
    "This staff account has no authenticator app yet: sign in to the admin (/admin/) to set "
    "one up, then send its code."
)
TOO_SOON = "Too many wrong second-factor codes; try again in {seconds} seconds."
TOTP_CODE = re.compile(r"[0-9]{6}")


def required(user):
    """Whether `user` must give a second factor after their password (staff must)."""
    return is_staff(user)


def is_enrolled(user):
    """Whether `user` has a confirmed authenticator app."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def pending_app(user):
    """The authenticator app `user` is enrolling: its secret is `key` (hex), its
    `otpauth://` URI `config_url`. The same one until confirmed, so that reloading the
    enrolment page does not change the secret already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_NAME, confirmed=False)


def secret(device):
    """The device's secret as authenticator apps take it typed in (base32, in groups of 4)."""
    text = device.config_url.split("secret=", 1)[1].split("&", 1)[0]
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def enrol(user, code, *, address, device=None):
    """Confirms `user`'s pending app with one of its current codes and makes their
    recovery codes: `(device, [recovery codes])`, the codes shown once.

    `device` is the pending app (default: `pending_app(user)`'s). A wrong code raises
    `SecondFactorRejected`; past the limits `RateLimited`; a user already enrolled
    `Conflict`; a user deleted meanwhile `User.DoesNotExist`.
    """
    count_attempt(user.email, address)
    with transaction.atomic():
        current = locked(User, user.pk, no_key=True)
        if TOTPDevice.objects.filter(user=current, confirmed=True).exists():
            raise Conflict(ALREADY_ENROLLED.format(user=current.email))
        pending = TOTPDevice.objects.select_for_update().filter(user=current, confirmed=False)
        app = pending.filter(pk=device.pk).first() if device else pending.order_by("pk").first()
        wait = _wait(app) if app else None
        accepted = app is not None and wait is None and app.verify_token(_digits(code))
        if accepted:
            app.confirmed = True
            app.save(update_fields=["confirmed"])
            pending.exclude(pk=app.pk).delete()
            codes = _new_recovery_codes(current)
    if not accepted:
        _failed(user, address, "enrolment")
        _refuse(wait)
    logger.warning("Second factor: %s enrolled an authenticator app from %s.", user.email, address)
    return app, codes


def verify(user, code, *, address):
    """The device that accepts `code` for `user`: a current code of their app, or one of
    their recovery codes (then used up). A wrong, reused or unenrolled code raises
    `SecondFactorRejected`; past the limits or the device's throttle `RateLimited`."""
    count_attempt(user.email, address)
    code = (code or "").strip()
    digits = _digits(code)
    with transaction.atomic():
        if TOTP_CODE.fullmatch(digits):
            devices = TOTPDevice.objects.filter(user=user, confirmed=True)
            attempt = digits
        else:
            devices = StaticDevice.objects.filter(user=user, confirmed=True)
            attempt = re.sub(r"[\s-]", "", code).lower()
        accepted, wait = None, None
        for device in devices.select_for_update().order_by("pk"):
            wait = _wait(device)
            if wait is None and device.verify_token(attempt):
                accepted = device
                break
    if accepted is None:
        _failed(user, address, "sign-in")
        if wait is None and not is_enrolled(user):
            raise SecondFactorRejected(NOT_ENROLLED)
        _refuse(wait)
    return accepted


def check_for_token(user, code, *, address):
    """The second factor of an API token request whose password was right: nothing for a
    customer; for staff `SecondFactorNeeded` without a code, else `verify(…)`."""
    if not required(user):
        return None
    if not code:
        raise SecondFactorNeeded()
    return verify(user, code, address=address)


def recovery_codes_left(user):
    """How many unused recovery codes `user` has."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def reset(user, *, by=None, address=None):
    """Removes `user`'s authenticator apps and recovery codes: they enrol again at their next
    sign-in, and their admin sessions stop counting as verified. Only a superuser resets a
    superuser's (`Forbidden`). `by` None is the shop itself (`manage.py reset_2fa`).
    Returns how many devices were removed."""
    ensure_may_manage(by, user)
    with transaction.atomic():
        current = locked(User, user.pk, no_key=True)
        apps = TOTPDevice.objects.filter(user=current).delete()[1]
        recovery = StaticDevice.objects.filter(user=current).delete()[1]
    logger.warning(
        "Second factor: %s's devices were reset by %s%s.",
        current.email,
        by.email if by is not None else "a management command",
        f" from {address}" if address else "",
    )
    return apps.get(TOTPDevice._meta.label, 0) + recovery.get(StaticDevice._meta.label, 0)


def give_app(user, *, address=None):
    """An authenticator app confirmed at once, with its recovery codes, for an account made
    by someone with shell access (`manage.py ensure_staff`): `(device, [recovery codes])`."""
    with transaction.atomic():
        current = locked(User, user.pk, no_key=True)
        app = TOTPDevice.objects.create(user=current, name=APP_NAME, confirmed=True)
        codes = _new_recovery_codes(current)
    logger.warning("Second factor: %s was given an authenticator app from the shell.", user.email)
    return app, codes


def _new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _digits(code):
    return re.sub(r"\s", "", code or "")


def _wait(device):
    """Seconds until `device` takes codes again after wrong ones (django-otp's throttle),
    or None if it takes them now."""
    allowed, details = device.verify_is_allowed()
    if allowed:
        return None
    left = (details["locked_until"] - timezone.now()).total_seconds()
    return max(1, int(left + 0.999))


def _failed(user, address, where):
    logger.warning("Second factor: a wrong code for %s at %s from %s.", user.email, where, address)


def _refuse(wait):
    if wait is not None:
        raise RateLimited(TOO_SOON.format(seconds=wait), retry_after=wait)
    raise SecondFactorRejected()
