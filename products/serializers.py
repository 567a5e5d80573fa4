"""The product object, the backfill upload and the backfill run history."""

from decimal import Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from products.models import BackfillRun, Product
from products.services import clean_product
from shop.serializers import CachedFieldsMixin


class PriceField(serializers.DecimalField):
    """A price: a string or a JSON number, passed on as written to the price rule
    (`products.services.clean_product`), which `ProductSerializer.validate` applies.

    A JSON number keeps its text (`shop.parsers`): `19.999999999999999999` or `1E2`
    are refused by the rule, never rounded.
    """

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        return data


class ProductSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, `sku`, `name`, `description`, `category`, `price` ("12.50"), timestamps.

    Plus what the old service's catalogue file tells of a piece: `metal_type`,
    `stone_type`, `customizable` (true, false, or null when not known). The rules of
    a product's data are `products.services.clean_product`'s.
    """

    price = PriceField(max_digits=12, decimal_places=2)

    class Meta:
        model = Product
        fields = ["id", "sku", *Product.DATA_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The SKU is trimmed and checked for duplicates by `clean_product`; the index
        # settles races.
        extra_kwargs = {"sku": {"validators": [], "trim_whitespace": False}}

    def validate(self, attrs):
        try:
            return clean_product(attrs, instance=self.instance, partial=self.partial)
        except DjangoValidationError as refused:
            raise serializers.ValidationError(refused.message_dict) from None


class BackfillUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # an empty file is the backfill's to refuse, with its message
        help_text="The CSV file (UTF-8; header with sku, name, price; optional description, "
        "category, active).",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Validate only; write nothing.")
    strict = serializers.BooleanField(
        default=False, help_text="Any rejected row aborts the run; nothing is written."
    )


class BackfillRunSerializer(serializers.ModelSerializer):
    """A run in the history list (without its rejected lines)."""

    started_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)
    elapsed = serializers.FloatField(read_only=True, allow_null=True, help_text="Seconds.")
    # Declared so that the schema admits "" (a run that has not started).
    phase = serializers.ChoiceField(
        choices=BackfillRun.Phase.choices,
        allow_blank=True,
        read_only=True,
        help_text="What a running import is doing: empty before it starts.",
    )

    class Meta:
        model = BackfillRun
        fields = [
            "id",
            "source",
            "origin",
            "started_by",
            "queued_at",
            "started_at",
            "finished_at",
            "elapsed",
            "status",
            "phase",
            "progress",
            "cancel_requested",
            "dry_run",
            "strict",
            "rows",
            "created",
            "updated",
            "unchanged",
            "rejected",
            "error",
        ]
        read_only_fields = fields


class RejectedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    reason = serializers.CharField()


class BackfillRunDetailSerializer(BackfillRunSerializer):
    """A run with its warnings and its first rejected lines (`rejected` is the total)."""

    rejected_lines = RejectedLineSerializer(many=True, read_only=True)
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(BackfillRunSerializer.Meta):
        fields = [*BackfillRunSerializer.Meta.fields, "warnings", "rejected_lines"]
        read_only_fields = fields
