"""Serializer helpers shared by the apps."""

import copy

from rest_framework import serializers

from shop.params import INTEGER


class CachedFieldsMixin:
    """Builds a `ModelSerializer`'s fields from the model once per class, not once per use.

    DRF introspects the model (field kwargs, validators, choices) every time a
    serializer is instantiated; for the read endpoints that is a large share of
    the request. The fields depend only on the class (`Meta` and the declared
    fields), never on the instance or the context, so each class builds them once
    and every serializer gets a deep copy, as DRF does for declared fields.
    """

    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_cached_fields")
        if prototype is None:
            prototype = super().get_fields()
            cls._cached_fields = prototype
        return copy.deepcopy(prototype)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter, in ASCII digits only (`shop.params`).

    Full-width digits, `1.0` and `+1` are refused, as in paths and in the list filters.
    """

    def to_internal_value(self, data):
        if isinstance(data, str) and not INTEGER.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)
