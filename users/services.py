"""Writes to users: the one place that creates, changes and removes customers."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from users.models import User

DUPLICATE_EMAIL = "A user with that email address already exists."


def email_taken(email, *, exclude=None):
    users = User.objects.with_email(email)
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    return users.exists()


def _set_password(user, password, keep_token=None):
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError({"password": error.messages}) from None
    user.set_password(password, keep_token=keep_token)


def _save(user):
    # The serializer checked the email; the unique index settles a race between two sign-ups.
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        if email_taken(user.email, exclude=user if user.pk else None):
            raise ValidationError({"email": [DUPLICATE_EMAIL]}) from None
        raise
    return user


def create_user(*, email, first_name, last_name, gender, password=None):
    """A new customer; without a password the account cannot sign in until staff set one."""
    user = User(
        email=User.objects.normalize_email(email),
        first_name=first_name,
        last_name=last_name,
        gender=gender,
    )
    if password is None:
        user.set_unusable_password()
    else:
        _set_password(user, password)
    return _save(user)


def update_user(user, *, keep_token=None, **fields):
    """Changes any of the profile fields and, when given, the password.

    A new password revokes the user's other API tokens (`User.set_password`);
    `keep_token`, the token the change was made with, stays if it is theirs.
    """
    password = fields.pop("password", None)
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"])
    for name, value in fields.items():
        setattr(user, name, value)
    if password is not None:
        _set_password(user, password, keep_token)
    return _save(user)
