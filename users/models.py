"""The one user model: customers and staff alike, signing in by email."""

import unicodedata

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import BooleanField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from shop.models import ShopModel


def email_key(email):
    """What makes two emails the same account: NFKC, then Unicode case folding
    (`Ada@Example.com`, `ADA@example.com`, and `ada` written in full-width letters are one
    key; so are `ss`, `ß` and two long s, or the Kelvin sign and `k`).

    Folding turns the capital I with a dot into `i` and a combining dot above; that dot,
    invisible on an `i`, is dropped, so that `İ` is `i` as it is to PostgreSQL's `lower()`.
    """
    return unicodedata.normalize("NFKC", email).casefold().replace("i\u0307", "i")


def same_lowercase_email(email):
    """The condition "the row's email is `email` but for its case", as the database lowers
    it: how the previous release, which did not store the key, compared emails."""
    return Exact(Lower("email"), Lower(Value(email)))


class UserQuerySet(models.QuerySet):
    """Emails compared by `email_key`; and, until `manage.py fill_email_keys` has run after a
    release, a row the previous release wrote (no key, or the key of the email it replaced)
    by its email too, so that such an account still signs in and still holds its address."""

    def with_email(self, email):
        """Users whose email is `email` in any case or Unicode form (`email_key`, served by
        its unique index), or whose email is `email` but for its case as the database lowers
        it (the previous release's rule, served by the index on `LOWER(email)`): that finds
        a row it wrote without a key, or whose email it changed without changing the key."""
        return self.filter(Q(email_key=email_key(email)) | Q(same_lowercase_email(email)))

    def search(self, text):
        """Users with `text` in their first name, last name or email, in any case.

        On PostgreSQL trigram indexes serve each (migration 0003): `UPPER()` of the names,
        the left side of `icontains` there, and the email's key, which is folded already
        and so is searched with the key of `text`.
        """
        return self.filter(
            models.Q(first_name__icontains=text)
            | models.Q(last_name__icontains=text)
            | models.Q(email_key__contains=email_key(text))
        )

    def email_taken(self, email, *, exclude=None):
        """Whether another account (not `exclude`) has this email in any case or Unicode form.

        Also by a row without its key (its key computed here: such rows are the few the
        previous release wrote during a release), and by the index on `LOWER(email)`, which
        the database still holds for that release. One query.
        """
        key = email_key(email)
        same_lowercase = same_lowercase_email(email)
        users = self.filter(Q(email_key=key) | Q(email_key__isnull=True) | Q(same_lowercase))
        if exclude is not None:
            users = users.exclude(pk=exclude.pk)
        rows = users.annotate(
            same_lowercase=ExpressionWrapper(same_lowercase, output_field=BooleanField())
        ).values_list("email", "email_key", "same_lowercase")
        return any(
            same or (stored if stored is not None else email_key(other)) == key
            for other, stored, same in rows
        )


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        # Sign-in ignores the case of the email, as uniqueness does. Should the previous
        # release have written a second spelling of a keyed address, the keyed row wins.
        found = self.with_email(email).order_by(F("email_key").asc(nulls_last=True)).first()
        if found is None:
            raise self.model.DoesNotExist(f"No user has the email {email!r}.")
        return found

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("A user needs an email address.")
        email = self.normalize_email(email)
        user = self.model(email=email, email_key=email_key(email), **fields)
        user.set_password(password)  # None makes the password unusable
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(ShopModel, AbstractBaseUser, PermissionsMixin):
    """A customer of the shop, or (with `is_staff`) one of its staff."""

    email = models.EmailField("email address", unique=True)
    email_key = models.CharField(  # noqa: DJ001 (unique: NULL, not "", is "no key yet")
        max_length=1024,
        unique=True,
        null=True,
        editable=False,
        help_text="The email as uniqueness and sign-in compare it (`email_key()`); NULL until "
        "fill_email_keys for rows the previous release wrote.",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    gender = models.CharField(max_length=64, blank=True)
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        help_text="Staff may sign in to the admin; what they may do there and in the API is "
        "their role's (groups).",
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive users cannot sign in or use their tokens."
    )
    date_joined = models.DateTimeField(default=timezone.now, db_index=True)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = "user"
        ordering = ["id"]
        permissions = [("manage_staff", "Can manage staff, their roles and their tokens")]
        constraints = [
            # What the previous release relies on for uniqueness; dropped once it is gone.
            models.UniqueConstraint(
                Lower("email"),
                name="users_user_email_ci_unique",
                violation_error_message="A user with that email address already exists.",
            ),
            # A row written without its key (by a path that skipped the manager and the
            # service) would escape the uniqueness of emails.
            models.CheckConstraint(
                condition=~models.Q(email_key=""), name="users_user_email_key_set"
            ),
        ]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self):
        return self.first_name or self.email
