"""The admin's forms that check a password, counted against the sign-in limits (`users.sign_in`)."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth.forms import AdminPasswordChangeForm as SetAnotherUsersPasswordForm

from shop.errors import RateLimited
from users.sign_in import authenticate_limited, check_password_limited


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


class PasswordOnlySave:
    """Writes the password alone: Django's password forms save the whole user row they
    loaded, which would write back a flag or an email changed meanwhile (a deactivation
    undone by the user's own password change). Saving still revokes the other tokens
    (`User.save`)."""

    def set_password_and_save(self, user, *args, commit=True, **kwargs):
        user = super().set_password_and_save(user, *args, commit=False, **kwargs)
        if commit:
            user.save(update_fields=["password"])
        return user


class AdminUserPasswordForm(PasswordOnlySave, SetAnotherUsersPasswordForm):
    """Staff setting another user's password in the admin."""


class AdminOwnPasswordChangeForm(PasswordOnlySave, AdminPasswordChangeForm):
    """The admin's "change password" page: the old password is checked within the limits."""

    def __init__(self, user, *args, request=None, **kwargs):
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self):
        old_password = self.cleaned_data["old_password"]
        try:
            correct = check_password_limited(self.request, self.user, old_password)
        except RateLimited as refused:
            raise forms.ValidationError(str(refused), code="rate_limited") from None
        if not correct:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
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
