"""Staff manage customers and staff accounts; passwords go through Django's own forms."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html

from purchases.models import Purchase
from shop.admin import StaffMayManage
from users.models import User

LATEST_PURCHASES = 20


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name", "gender")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class LatestPurchasesFormSet(BaseInlineFormSet):
    """Only the newest purchases: a long-standing customer's page stays light."""

    def get_queryset(self):
        return super().get_queryset().order_by("-created_at", "-id")[:LATEST_PURCHASES]


class PurchaseInline(StaffMayManage, admin.TabularInline):
    """The customer's latest purchases, read-only (purchases are changed on their own page)."""

    model = Purchase
    formset = LatestPurchasesFormSet
    template = "admin/purchases/purchase/latest_purchases_inline.html"
    fk_name = "user"
    verbose_name = "purchase"
    verbose_name_plural = f"latest purchases (the {LATEST_PURCHASES} newest)"
    fields = (
        "purchase",
        "created_at",
        "product_sku",
        "product_name",
        "quantity",
        "unit_price",
        "total",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="purchase")
    def purchase(self, purchase):
        url = reverse("admin:purchases_purchase_change", args=[purchase.pk])
        return format_html('<a href="{}">#{}</a>', url, purchase.pk)


@admin.register(User)
class UserAdmin(StaffMayManage, DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "first_name", "last_name", "gender", "is_staff", "date_joined")
    list_filter = ("is_staff", "is_active", "gender", "date_joined")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("-date_joined",)
    search_help_text = "Search by email, first name or last name."
    readonly_fields = ("date_joined", "last_login", "all_purchases")
    inlines = (PurchaseInline,)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "gender")}),
        ("Purchases", {"fields": ("all_purchases",)}),
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

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    @admin.display(description="all purchases")
    def all_purchases(self, user):
        count = user.purchases.count() if user.pk else 0
        if not count:
            return "No purchases yet."
        url = reverse("admin:purchases_purchase_changelist") + f"?customer={user.pk}"
        return format_html(
            '<a href="{}" class="all-purchases">See all {} purchase{} of this customer</a>',
            url,
            count,
            "" if count == 1 else "s",
        )
