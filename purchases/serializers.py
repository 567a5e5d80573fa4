"""The purchase object, its write form (which hands over to `purchases.services`), and the
analytics objects."""

from django.http import QueryDict
from rest_framework import serializers

from products.serializers import PriceField, ProductSerializer
from purchases import services
from purchases.models import Purchase, Refund
from purchases.periods import INSTANT_HELP, parse_instant
from shop.serializers import CachedFieldsMixin, QueryIntegerField
from users.serializers import UserSerializer


class StrictIntegerField(serializers.IntegerField):
    """An integer sent as a JSON number: `"3"`, `3.5`, `true` and `null` are refused.

    Form-encoded bodies (the browsable API) can only carry strings: there, and only
    there, a string of ASCII digits is accepted.
    """

    default_error_messages = {"invalid": "A valid integer is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            form_digits = (
                isinstance(data, str)
                and isinstance(getattr(self.root, "initial_data", None), QueryDict)
                and data.isascii()
                and data.isdigit()
            )
            if not form_digits:
                self.fail("invalid")
        return super().to_internal_value(data)


class PurchaseSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, `user_id`, `product_id`, `quantity`, `unit_price`, `total`, `created_at`.

    Plus the snapshots taken at purchase time: `customer_email`, `product_sku`,
    `product_name`; and what its refunds add up to: `refunded_quantity`,
    `refunded_amount`, `net_total` (`total` less `refunded_amount`). `user_id` is null
    once the customer has been deleted.
    """

    user_id = serializers.IntegerField(read_only=True, allow_null=True)
    product_id = serializers.IntegerField(read_only=True)
    total = serializers.DecimalField(max_digits=22, decimal_places=2, read_only=True)
    net_total = serializers.DecimalField(max_digits=22, decimal_places=2, read_only=True)

    class Meta:
        model = Purchase
        fields = [
            "id",
            "user_id",
            "product_id",
            "quantity",
            "unit_price",
            "total",
            "created_at",
            "customer_email",
            "product_sku",
            "product_name",
            "refunded_quantity",
            "refunded_amount",
            "net_total",
        ]
        read_only_fields = fields


class PurchaseHistorySerializer(PurchaseSerializer):
    """A purchase with its product embedded as `product`, for `GET /purchases/user/{id}`."""

    product = ProductSerializer(read_only=True)

    class Meta(PurchaseSerializer.Meta):
        fields = [*PurchaseSerializer.Meta.fields, "product"]
        read_only_fields = fields


class PurchaseWriteSerializer(serializers.Serializer):
    """The body of `POST /purchases` and `PATCH /purchases/{id}`; answers the purchase object.

    The price is never accepted from the client. Saving calls `purchases.services`, which
    enforces the rules (a customer buys for themself, the quantity's ceiling); `save()`
    takes the actor as `by`. This form checks the body's shape only.
    """

    user_id = StrictIntegerField(help_text="The customer's id (a customer: their own).")
    product_id = StrictIntegerField(help_text="The product's id.")
    quantity = StrictIntegerField(
        min_value=1,
        default=1,
        help_text=f"How many, 1 to {services.MAX_QUANTITY:,}; 1 by default.",
    )

    def create(self, validated_data):
        by = validated_data.pop("by")
        return services.create_purchase(by=by, **_service_arguments(validated_data))

    def update(self, instance, validated_data):
        return services.update_purchase(instance, **_service_arguments(validated_data))

    def to_representation(self, instance):
        return PurchaseSerializer(instance).data


def _service_arguments(data):
    """The write form's fields as the service's arguments (`user_id` → `user`, …)."""
    names = {"user_id": "user", "product_id": "product", "quantity": "quantity"}
    return {names[field]: value for field, value in data.items()}


class InstantField(serializers.DateTimeField):
    """An ISO 8601 date or datetime, read by `purchases.periods.parse_instant`."""

    default_error_messages = {"invalid": "Enter an ISO 8601 date or datetime."}

    def to_internal_value(self, value):
        try:
            return parse_instant(value)
        except (TypeError, ValueError):
            self.fail("invalid")


class WindowSerializer(serializers.Serializer):
    """`since` and `until`: the half-open window `[since, until)`; both optional."""

    since = InstantField(required=False, help_text=f"Start of the window, included. {INSTANT_HELP}")
    until = InstantField(required=False, help_text=f"End of the window, excluded. {INSTANT_HELP}")

    def validate(self, attrs):
        since, until = attrs.get("since"), attrs.get("until")
        if since is not None and until is not None and since >= until:
            raise serializers.ValidationError({"until": ["`until` must be later than `since`."]})
        return attrs


class TopWindowSerializer(WindowSerializer):
    limit = QueryIntegerField(
        min_value=1, max_value=100, default=10, help_text="How many to rank (1 to 100)."
    )


class CustomerSpendSerializer(UserSerializer):
    """A user object plus what they spent in the window."""

    total_spent = serializers.DecimalField(max_digits=30, decimal_places=2, read_only=True)
    purchase_count = serializers.IntegerField(read_only=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "total_spent", "purchase_count"]


class ProductSalesSerializer(ProductSerializer):
    """A product object plus the units sold in the window."""

    units_sold = serializers.IntegerField(read_only=True)
    purchase_count = serializers.IntegerField(read_only=True)

    class Meta(ProductSerializer.Meta):
        fields = [*ProductSerializer.Meta.fields, "units_sold", "purchase_count"]


class RefundSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, `purchase_id`, `quantity` (units returned), `amount` (money refunded), `reason`,
    `note`, `created_at`, `created_by` (the staff member's id; null once deleted) and
    `created_by_email` (their email at the time)."""

    purchase_id = serializers.IntegerField(read_only=True)
    created_by = serializers.IntegerField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = Refund
        fields = [
            "id",
            "purchase_id",
            "quantity",
            "amount",
            "reason",
            "note",
            "created_at",
            "created_by",
            "created_by_email",
        ]
        read_only_fields = fields


class RefundWriteSerializer(serializers.Serializer):
    """The body of `POST /purchases/{id}/refunds`: read, not judged (`purchases.refunds` is)."""

    quantity = StrictIntegerField(
        required=False, help_text="Units returned, refunded at the unit price paid."
    )
    amount = PriceField(
        max_digits=22,
        decimal_places=2,
        required=False,
        help_text='Money refunded ("12.50", a price\'s format): with `quantity`, what is '
        "refunded for the units.",
    )
    reason = serializers.CharField(
        help_text=f"Why: one of {', '.join(Refund.Reason.values)}.", trim_whitespace=False
    )
    note = serializers.CharField(required=False, allow_blank=True, default="")
