"""The product object of SPEC 4.2, the backfill upload and the backfill run history."""

from decimal import Decimal

from rest_framework import serializers

from products.models import BackfillRun, Product
from products.prices import price_error
from products.services import DUPLICATE_SKU
from products.text import invisible_characters, trim
from shop.serializers import CachedFieldsMixin


class PriceField(serializers.DecimalField):
    """A price as the backfill takes it: a plain decimal >= 0, at most 2 places (`"12.50"`).

    The same rule for both doors (`products.prices`): `"-0"`, `"1e3"`, `"+5"`, `".5"`,
    `"1_000"` or other scripts' digits, which `Decimal` would take, are refused
    with the backfill's reasons. A JSON number is held to the same rule as written
    (`shop.parsers` keeps its text): `19.999999999999999999` or `1E2` are refused,
    never rounded.
    """

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, str | int | Decimal):
            self.fail("invalid")
        # A JSON number as written (`shop.parsers.JSONNumber`), not as Decimal re-spells it.
        text = data.strip() if isinstance(data, str) else getattr(data, "text", None) or str(data)
        if error := price_error(text):
            raise serializers.ValidationError(error)
        return super().to_internal_value(text)


class ProductSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, `sku`, `name`, `description`, `category`, `price` ("12.50"), timestamps.

    Plus what the old service's catalogue file tells of a piece: `metal_type`,
    `stone_type`, `customizable` (true, false, or null when not known).
    """

    price = PriceField(max_digits=12, decimal_places=2)

    class Meta:
        model = Product
        fields = ["id", "sku", *Product.DATA_FIELDS, "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        # The duplicate check is `validate_sku` (after trimming), the index settles races.
        extra_kwargs = {"sku": {"validators": [], "trim_whitespace": False}}

    def validate_sku(self, value):
        """The backfill's sku rule: trimmed of spaces and invisible format characters,
        none inside, unique."""
        value = trim(value)
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        if hidden := invisible_characters(value):
            raise serializers.ValidationError(
                f"The SKU contains an invisible character ({hidden})."
            )
        products = Product.objects.filter(sku=value)
        if self.instance is not None:
            products = products.exclude(pk=self.instance.pk)
        if products.exists():
            raise serializers.ValidationError(DUPLICATE_SKU)
        return value


class BackfillUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,  # an empty file is the backfill's to refuse, with its message
        help_text="The CSV file (UTF-8; header with sku, name, price; optional description, "
        "category).",
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
