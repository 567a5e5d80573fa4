"""The admin's forms that check a password, counted against the sign-in limits (`users.sign_in`)."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth.forms import AdminPasswordChangeForm as SetAnotherUsersPasswordForm
from django.core.exceptions import ValidationError

from shop.errors import RateLimited
from shop.ratelimit import client_address
from users import services
from users.sign_in import authenticate_limited


class AdminSignInForm(AdminAuthenticationForm):
    """The admin's login: the same limits as `POST /auth/token`, with their message on the page."""

    def clean(self):
        email = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if email is not None and password:
            try:
                self.user_cache = authenticate_limited(self.request, email=email, password=password)
            except RateLimited as refused:
                raise forms.ValidationError(str(refused), code="rate_limited") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class PasswordThroughService:
    """Saves the password through `users.services.change_password`, as every door does:
    only the password column is written (Django's forms save the whole row they loaded,
    which would write back a flag or an email changed meanwhile) and the user's API tokens
    are revoked. `by` is who is changing it."""

    by = None

    def save(self, commit=True):
        unusable = not self.cleaned_data.get("set_usable_password", True)
        new = None if unusable else self.cleaned_data["new_password1" if self.own else "password1"]
        self.user = services.change_password(self.user, new, by=self.by)
        return self.user


class AdminUserPasswordForm(PasswordThroughService, SetAnotherUsersPasswordForm):
    """Staff setting another user's password in the admin (or disabling it)."""

    own = False

    def __init__(self, user, *args, by=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.by = by


class AdminOwnPasswordChangeForm(PasswordThroughService, AdminPasswordChangeForm):
    """The admin's "change password" page: the old password is checked within the limits."""

    own = True

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request
        self.by = user

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        try:
            services.check_current_password(
                self.user, old_password, address=client_address(self.request)
            )
        except RateLimited as refused:
            raise forms.ValidationError(str(refused), code="rate_limited") from None
        except ValidationError:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            ) from None
        return old_password


class SecondFactorForm(forms.Form):
    """A code after the password: from the authenticator app (6 digits), or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}
        ),
    )
