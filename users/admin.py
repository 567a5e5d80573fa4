"""Staff manage customers and staff accounts; passwords go through Django's own forms.

Saving and deleting go through `users.services`, as the API does, so the same
rules hold here: a duplicate email caught by the index, the last active staff
member kept, a superuser's account and tokens left to superusers (plain staff see
a superuser's page read-only; its password, change and delete pages are 403). The
purchases app adds a customer's purchases to this page (`purchases.admin.CustomerAdmin`).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken

from shop.admin import StaffMayManage, adopt, changed_fields
from users import services
from users.forms import AdminOwnPasswordChangeForm, AdminSignInForm
from users.models import User

# Every password the admin checks counts against the sign-in limits (`users.sign_in`).
admin.site.login_form = AdminSignInForm
admin.site.password_change_form = AdminOwnPasswordChangeForm

# What only a superuser sees and changes: who holds which Django permission.
SUPERUSER_ONLY_FIELDS = ("is_superuser", "groups", "user_permissions")


class EmailTakenCheck:
    """Says on the form that the email is taken in another spelling (`email_key`), before
    the service's save meets the unique index."""

    def clean_email(self):
        email = self.cleaned_data["email"]
        existing = self.instance if self.instance.pk else None
        if User.objects.email_taken(email, exclude=existing):
            raise forms.ValidationError(services.DUPLICATE_EMAIL, code="unique")
        return email


class UserCreationForm(EmailTakenCheck, AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name", "gender")


class UserEditForm(EmailTakenCheck, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(StaffMayManage, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "first_name", "last_name", "gender", "is_staff", "date_joined")
    list_filter = ("is_staff", "is_active", "gender", "date_joined")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    search_help_text = "Search by email, first name or last name."
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "gender")}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "first_name",
                    "last_name",
                    "gender",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        """Staff who are not superusers do not see Django's permission machinery.

        In this shop every staff member may do everything (`StaffMayManage`):
        groups and per-user permissions mean nothing here, and only a superuser
        may make another one.
        """
        fieldsets = super().get_fieldsets(request, obj)
        if request.user.is_superuser:
            return fieldsets
        return [
            (name, {**options, "fields": _without(options["fields"], SUPERUSER_ONLY_FIELDS)})
            for name, options in fieldsets
        ]

    def get_form(self, request, obj=None, **kwargs):
        if not request.user.is_superuser:
            # Given `exclude`, Django no longer adds the read-only fields to it itself.
            kwargs["exclude"] = [
                *(kwargs.get("exclude") or ()),
                *self.get_readonly_fields(request, obj),
                *SUPERUSER_ONLY_FIELDS,
            ]
        return super().get_form(request, obj, **kwargs)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or services.may_manage(request.user, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or services.may_manage(request.user, obj)
        )

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.update_user(obj, by=request.user, **changed_fields(form))
        else:
            usable = form.cleaned_data.get("set_usable_password", True)
            saved = services.create_user(
                email=obj.email,
                first_name=obj.first_name,
                last_name=obj.last_name,
                gender=obj.gender,
                password=form.cleaned_data.get("password1") if usable else None,
            )
        adopt(obj, saved)

    def delete_model(self, request, obj):
        services.delete_user(obj, by=request.user)


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(StaffMayManage, AuthTokenAdmin):
    """knox's token admin (digests only), with issuing and revoking through `users.services`:
    plain staff neither issue nor revoke a superuser's tokens."""

    def has_change_permission(self, request, obj=None):
        return False  # a token has nothing to edit: it is issued or revoked

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or services.may_manage(request.user, obj.user)
        )

    def save_model(self, request, obj, form, change):
        token, text = services.issue_token(obj.user, by=request.user)
        # Shown once, as knox's own admin does.
        self.message_user(request, f"TOKEN {text}")
        adopt(obj, token)

    def delete_model(self, request, obj):
        services.revoke_tokens(obj.user, only=obj, by=request.user)


def _without(fields, hidden):
    return tuple(field for field in fields if field not in hidden)
