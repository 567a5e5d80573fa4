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
    and every serializer gets copies. A plain field is copied shallowly (binding it
    sets only its own attributes; DRF's deep copy would build it anew from its
    arguments); a nested serializer or a list field, which binds children, deeply.
    """

    def get_fields(self):
        cls = type(self)
        prototype = cls.__dict__.get("_cached_fields")
        if prototype is None:
            prototype = super().get_fields()
            cls._cached_fields = prototype
        return {name: _copy(field) for name, field in prototype.items()}


BINDS_CHILDREN = (serializers.BaseSerializer, serializers.ListField, serializers.DictField)


def _copy(field):
    return copy.deepcopy(field) if isinstance(field, BINDS_CHILDREN) else copy.copy(field)


class QueryIntegerField(serializers.IntegerField):
    """An integer query parameter, in ASCII digits only (`shop.params`).

    Full-width digits, `1.0` and `+1` are refused, as in paths and in the list filters.
    """

    def to_internal_value(self, data):
        if isinstance(data, str) and not INTEGER.fullmatch(data.strip()):
            self.fail("invalid")
        return super().to_internal_value(data)
