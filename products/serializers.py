"""The product object of SPEC 4.2, the backfill upload and the backfill run history."""

from decimal import Decimal

from rest_framework import serializers

from products import services
from products.models import BackfillRun, Product
from shop.serializers import CachedFieldsMixin


class ProductSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, `sku`, `name`, `description`, `category`, `price` ("12.50"), timestamps."""

    class Meta:
        model = Product
        fields = [
            "id",
            "sku",
            "name",
            "description",
            "category",
            "price",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {
            # The database's check constraint is the rule; this answers 400 before it.
            "price": {"min_value": Decimal("0")},
        }

    def validate_sku(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("This field may not be blank.")
        return value

    def create(self, validated_data):
        return services.create_product(**validated_data)

    def update(self, instance, validated_data):
        return services.update_product(instance, **validated_data)


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

    class Meta:
        model = BackfillRun
        fields = [
            "id",
            "source",
            "origin",
            "started_by",
            "started_at",
            "finished_at",
            "elapsed",
            "status",
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
