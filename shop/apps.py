from django.apps import AppConfig


class ShopConfig(AppConfig):
    """Project-wide API conventions: routing, pagination, errors, permissions."""

    name = "shop"
    verbose_name = "Shop"

    def ready(self):
        # Registers the OpenAPI description of our token authentication.
        from shop import schema  # noqa: F401
