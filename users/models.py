"""The one user model: customers and staff alike, signing in by email."""

import unicodedata

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from shop.models import ShopModel


def email_key(email):
    """What makes two emails the same account: NFKC, then Unicode case folding
    (`Ada@Example.com`, `ADA@example.com`, and `ada` written in full-width letters are one
    key; so are `ss` and `ß`, or the Kelvin sign and `k`)."""
    return unicodedata.normalize("NFKC", email).casefold()


class UserQuerySet(models.QuerySet):
    def with_email(self, email):
        """Users whose email equals `email` ignoring case (served by the unique index)."""
        return self.filter(Exact(Lower("email"), Lower(Value(email))))

    def email_taken(self, email, *, exclude=None):
        """Whether another account (not `exclude`) has this email, ignoring case."""
        users = self.with_email(email)
        if exclude is not None:
            users = users.exclude(pk=exclude.pk)
        return users.exists()


class UserManager(BaseUserManager.from_queryset(UserQuerySet)):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        # Sign-in ignores the case of the email, as uniqueness does.
        return self.with_email(email).get()

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)  # None makes the password unusable
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(ShopModel, AbstractBaseUser, PermissionsMixin):
    """A customer of the shop, or (with `is_staff`) one of its staff."""

    email = models.EmailField("email address", unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    gender = models.CharField(max_length=64, blank=True)
    is_staff = models.BooleanField(
        "staff status",
        default=False,
        help_text="Staff may sign in to the admin and use the whole API.",
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
        constraints = [
            # `unique=True` above keeps Django's auth checks content; this is the real rule.
            models.UniqueConstraint(
                Lower("email"),
                name="users_user_email_ci_unique",
                violation_error_message="A user with that email address already exists.",
            ),
        ]

    def __str__(self):
        return self.email

    def set_password(self, raw_password, *, keep_token=None):
        """Sets the password; saving then revokes the user's API tokens but `keep_token`.

        A new password signs the user out everywhere else, as Django does for
        sessions, whichever way it is set (the API, the admin, `changepassword`).
        The API keeps the token the user changed it with.
        """
        super().set_password(raw_password)
        self._token_kept = keep_token

    def save(self, *args, **kwargs):
        password_changed = self._password is not None and not self._state.adding
        super().save(*args, **kwargs)
        if password_changed:
            tokens = self.auth_token_set.all()
            kept = getattr(self, "_token_kept", None)
            if kept is not None:
                tokens = tokens.exclude(pk=kept.pk)
            tokens.delete()

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip() or self.email

    def get_short_name(self):
        return self.first_name or self.email
