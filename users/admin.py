"""Staff manage customers and staff accounts, their roles and API tokens; passwords go
through Django's own forms.

Who sees and changes what is the staff member's role (docs/admin.md, "Roles"). Saving
and deleting go through `users.services`, as the API does, so the same rules hold here:
a duplicate email caught by the index, the last active staff member kept, another staff
member's account, tokens and second factor left to Owners (`users.manage_staff`), a
superuser's to superusers (others see such a page read-only; its password, change and
delete pages are 403). A customer's page shows their purchases and refunds
(`purchases.admin_customers.CustomerPurchasesAdmin`).
"""

import copy
from datetime import timedelta
from functools import partial

import django_otp
import segno
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.admin import AuthTokenAdmin
from knox.models import AuthToken

from purchases.admin_customers import CustomerPurchasesAdmin
from shop import ratelimit
from shop.admin import ServiceAdmin, adopt, changed_fields
from shop.admin_lists import CommonValuesFilter, LargeListAdmin
from shop.errors import Conflict, Forbidden, RateLimited, SecondFactorRejected
from shop.permissions import is_staff
from users import second_factor, services
from users.forms import (
    AdminOwnPasswordChangeForm,
    AdminSignInForm,
    AdminUserPasswordForm,
    SecondFactorForm,
)
from users.models import User

# Every password the admin checks counts against the sign-in limits (`users.sign_in`).
admin.site.login_form = AdminSignInForm
admin.site.password_change_form = AdminOwnPasswordChangeForm


def second_factor_page(request, site):
    """After the password: a staff member without an authenticator app enrols one (a QR code,
    its `otpauth://` URI and secret, then a code to confirm, then their recovery codes once);
    one with an app gives a code or a recovery code. Then on to the admin (`users.second_factor`).
    """
    user = request.user
    going = _next_page(request, site)
    if not (user.is_authenticated and second_factor.required(user)):
        return HttpResponseRedirect(reverse("admin:login", current_app=site.name))
    if user.is_verified():
        return HttpResponseRedirect(going)
    enrolling = not second_factor.is_enrolled(user)
    form = SecondFactorForm(request.POST or None)
    context = {**site.each_context(request), "title": "Second factor", "next": going}
    if form.is_valid():
        code, address = form.cleaned_data["code"], ratelimit.client_address(request)
        try:
            if enrolling:
                device, codes = second_factor.enrol(user, code, address=address)
            else:
                device = second_factor.verify(user, code, address=address)
        except (SecondFactorRejected, RateLimited) as refused:
            form.add_error("code", str(refused))
        except Conflict:
            # Enrolled meanwhile (another tab): this code is then asked for as a sign-in.
            return HttpResponseRedirect(request.get_full_path())
        else:
            # A new session key for the session's new powers, as Django's own login does.
            request.session.cycle_key()
            django_otp.login(request, device)
            if enrolling:
                context["recovery_codes"] = codes
                return TemplateResponse(request, "admin/users/second_factor.html", context)
            if isinstance(device, StaticDevice):
                left = second_factor.recovery_codes_left(user)
                messages.warning(
                    request,
                    f"You signed in with a recovery code; {left} left. A superuser can reset "
                    "your second factor so that you set up a new authenticator app.",
                )
            return HttpResponseRedirect(going)
    if enrolling:
        app = second_factor.pending_app(user)
        context.update(
            enrolling=True,
            qr_svg=segno.make(app.config_url, error="m").svg_inline(scale=4, title="QR code"),
            otpauth_uri=app.config_url,
            secret=second_factor.secret(app),
        )
    context["form"] = form
    return TemplateResponse(request, "admin/users/second_factor.html", context)


def _next_page(request, site):
    going = request.POST.get("next") or request.GET.get("next")
    if going and url_has_allowed_host_and_scheme(
        going, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return going
    return reverse("admin:index", current_app=site.name)


admin.site.second_factor_view = second_factor_page

# A device's page would show its secret and let staff edit it; a staff member's second
# factor is only reset (`UserAdmin.reset_second_factor`), never read or edited.
admin.site.unregister(TOTPDevice)
admin.site.unregister(StaticDevice)

# What only a superuser sees and changes: who is a superuser.
SUPERUSER_ONLY_FIELDS = ("is_superuser",)
# What only those who manage staff (Owners) see and change: who is staff, in which role.
STAFF_MANAGER_FIELDS = ("is_staff", "groups")


def customer_label(user):
    """A person as staff pick them: the name, and the email that tells two Ann Smiths apart."""
    name = f"{user.first_name} {user.last_name}".strip()
    return f"{name} ({user.email})" if name else user.email


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


class GenderFilter(CommonValuesFilter):
    title = "gender"
    parameter_name = "gender"


@admin.register(User)
class UserAdmin(CustomerPurchasesAdmin, LargeListAdmin, ServiceAdmin, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    change_password_form = AdminUserPasswordForm
    # Narrow enough for 1280 px with the sidebars open (gender is a filter, not a column).
    list_display = ("email", "name", "staff", "joined")
    list_filter = ("is_staff", "is_active", GenderFilter, "date_joined")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    actions = ["reset_second_factor"]
    search_help_text = "Search by email, first name or last name."
    readonly_fields = ("date_joined", "last_login", *CustomerPurchasesAdmin.PURCHASE_FIELDS)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "gender")}),
        ("Purchases", {"fields": CustomerPurchasesAdmin.PURCHASE_FIELDS}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "groups", "is_superuser")},
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

    def get_search_results(self, request, queryset, search_term):
        # Each word in a name or the email's key (`UserQuerySet.search`, which indexes serve).
        for word in search_term.split():
            queryset = queryset.search(word)
        return queryset, False

    @admin.display(description="name", ordering="last_name")
    def name(self, user):
        return f"{user.first_name} {user.last_name}".strip()

    @admin.display(description="staff", boolean=True, ordering="is_staff")
    def staff(self, user):
        return user.is_staff

    @admin.display(description="joined", ordering="date_joined")
    def joined(self, user):
        # The day is what a person looks for in a list; the user's page has the time.
        return user.date_joined.date()

    def autocomplete_label(self, user):
        """How a user is named in other pages' pickers (the purchase form's customer)."""
        return customer_label(user)

    def hidden_fields(self, request):
        """The fields `request.user` may not see here: superuser status but to superusers,
        staff status and role (groups) but to Owners. Roles are groups: per-user
        permissions are not offered."""
        if request.user.is_superuser:
            return ()
        if request.user.has_perm(services.MANAGE_STAFF):
            return SUPERUSER_ONLY_FIELDS
        return (*SUPERUSER_ONLY_FIELDS, *STAFF_MANAGER_FIELDS)

    def get_fieldsets(self, request, obj=None):
        hidden = self.hidden_fields(request)
        return [
            (name, {**options, "fields": _without(options["fields"], hidden)})
            for name, options in super().get_fieldsets(request, obj)
        ]

    def get_form(self, request, obj=None, **kwargs):
        # Given `exclude`, Django no longer adds the read-only fields to it itself.
        kwargs["exclude"] = [
            *(kwargs.get("exclude") or ()),
            *self.get_readonly_fields(request, obj),
            *self.hidden_fields(request),
            "user_permissions",
        ]
        return super().get_form(request, obj, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs.setdefault("label", "Role")
            kwargs.setdefault(
                "help_text", "What this staff member may do (docs/admin.md, Roles); none: nothing."
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_manage_staff_permission(self, request):
        """Who may run the actions on staff accounts (resetting a second factor): Owners."""
        return request.user.has_perm(services.MANAGE_STAFF)

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

    def user_change_password(self, request, id, form_url=""):
        # Django builds the form from the admin's class, without the request: this request's
        # copy of the admin names who is setting the password (the service's `by`).
        admin_for_request = copy.copy(self)
        admin_for_request.change_password_form = partial(self.change_password_form, by=request.user)
        return DjangoUserAdmin.user_change_password(admin_for_request, request, id, form_url)

    def delete_model(self, request, obj):
        services.delete_user(obj, by=request.user)

    def delete_queryset(self, request, queryset):
        # One transaction, every lock in the shop's order (`shop.locking`).
        services.delete_users(queryset, by=request.user)

    @admin.action(
        description="Reset the second factor (they set up a new app at next sign-in)",
        permissions=["manage_staff"],
    )
    def reset_second_factor(self, request, queryset):
        address = ratelimit.client_address(request)
        done, refused = [], []
        for user in queryset.order_by("pk"):
            try:
                second_factor.reset(user, by=request.user, address=address)
            except Forbidden:
                refused.append(user.email)
            except ObjectDoesNotExist:
                continue  # deleted meanwhile: nothing left to reset
            else:
                done.append(user.email)
        if done:
            self.message_user(request, f"Second factor reset for {', '.join(done)}.")
        if refused:
            self.message_user(
                request,
                f"Only a superuser resets a superuser's second factor: not reset for "
                f"{', '.join(refused)}.",
                messages.ERROR,
            )


admin.site.unregister(AuthToken)
admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(GroupAdmin):
    """The staff roles, which are Django's groups: their permissions (docs/admin.md, Roles)."""

    list_name = "Roles"  # where the admin lists its models (`ShopAdminSite.get_app_list`)


TOKEN_DAYS_DEFAULT = 30
TOKEN_DAYS_MAX = 366


class ApiTokenForm(forms.ModelForm):
    """Issuing a token: whose, and for how long (it always expires)."""

    valid_for_days = forms.IntegerField(
        label="Valid for (days)",
        required=False,
        min_value=1,
        max_value=TOKEN_DAYS_MAX,
        initial=TOKEN_DAYS_DEFAULT,
        help_text=(
            f"The token stops working after this many days (1 to {TOKEN_DAYS_MAX}; "
            f"{TOKEN_DAYS_DEFAULT} if left empty)."
        ),
    )

    class Meta:
        model = AuthToken
        fields = ["user"]


@admin.register(AuthToken)
class ApiTokenAdmin(ServiceAdmin, AuthTokenAdmin):
    """knox's token admin (digests only), with issuing and revoking through `users.services`.

    Every staff member, whatever their role, sees, issues and revokes their own tokens here;
    those whose role holds knox's token permissions (Owner, Support) also others', as
    `users.services.may_manage` lets them (a customer's; another staff member's only as an
    Owner; a superuser's only as a superuser). A token is named by its first characters
    (knox's key, which cannot sign anyone in), never by its 128-character digest; it always
    expires (`TOKEN_DAYS_DEFAULT` days unless chosen).
    """

    add_form = ApiTokenForm
    list_name = "API tokens"  # where the admin lists its models (`ShopAdminSite.get_app_list`)
    list_display = ("token_start", "user", "created", "expiry")
    list_select_related = ("user",)
    search_fields = ("token_key", "user__email", "user__first_name", "user__last_name")
    search_help_text = "Search by the token's first characters, or its user's name or email."
    raw_id_fields = ()
    autocomplete_fields = ("user",)
    fields = ("user", "token_start", "created", "expiry")
    readonly_fields = ("token_start", "created", "expiry")

    def for_others(self, request, action):
        """Whether `request.user` may `action` ("view", "add", "delete") others' tokens."""
        return request.user.has_perm(f"knox.{action}_authtoken")

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        return tokens if self.for_others(request, "view") else tokens.filter(user=request.user)

    def get_fields(self, request, obj=None):
        if obj is not None:
            return self.fields
        return (
            ("user", "valid_for_days") if self.for_others(request, "add") else ("valid_for_days",)
        )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "user":
            # A token is issued to someone who exists: no add, change or view beside the picker.
            widget = formfield.widget
            widget.can_add_related = widget.can_change_related = False
            widget.can_delete_related = widget.can_view_related = False
        return formfield

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "API tokens", **(extra_context or {})})

    def add_view(self, request, form_url="", extra_context=None):
        context = {"title": "Issue an API token", **(extra_context or {})}
        return super().add_view(request, form_url, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        context = {"title": "API token", **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    @admin.display(description="token", ordering="token_key")
    def token_start(self, token):
        return f"{token.token_key}…"

    def has_module_permission(self, request):
        return is_staff(request.user)

    def has_view_permission(self, request, obj=None):
        own = obj is None or obj.user_id == request.user.pk
        return is_staff(request.user) and (own or self.for_others(request, "view"))

    def has_add_permission(self, request):
        return is_staff(request.user)

    def has_change_permission(self, request, obj=None):
        return False  # a token has nothing to edit: it is issued or revoked

    def has_delete_permission(self, request, obj=None):
        if not is_staff(request.user):
            return False
        if obj is None or obj.user_id == request.user.pk:
            return True
        return self.for_others(request, "delete") and services.may_manage(request.user, obj.user)

    def save_model(self, request, obj, form, change):
        user = form.cleaned_data.get("user") or request.user
        days = form.cleaned_data.get("valid_for_days") or TOKEN_DAYS_DEFAULT
        token, text = services.issue_token(user, by=request.user, valid_for=timedelta(days=days))
        # Shown once, as knox's own admin does.
        self.message_user(
            request,
            f"The new token for {user.email}, valid until "
            f"{timezone.localtime(token.expiry):%Y-%m-%d %H:%M}. "
            f"Copy it now: it is never shown again. TOKEN {text}",
            messages.SUCCESS,
        )
        adopt(obj, token)

    def delete_model(self, request, obj):
        services.revoke_tokens(obj.user, only=obj, by=request.user)


def _without(fields, hidden):
    return tuple(field for field in fields if field not in hidden)
