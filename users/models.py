"""The one user model: customers and staff alike, signing in by email."""

import unicodedata

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
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


class UserQuerySet(models.QuerySet):
    def with_email(self, email):
        """Users whose email is `email` in any case or Unicode form (`email_key`; served by
        the key's unique index)."""
        return self.filter(email_key=email_key(email))

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
    email_key = models.CharField(
        max_length=1024,
        unique=True,
        editable=False,
        help_text="The email as uniqueness and sign-in compare it (`email_key()`).",
    )
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
            # A row written without its key (by a path that skipped the manager and the
            # service) would escape the uniqueness of emails.
            models.CheckConstraint(
                condition=~models.Q(email_key=""), name="users_user_email_key_set"
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
