from django.apps import AppConfig


class ProductsConfig(AppConfig):
    """The product catalogue and its CSV backfill."""

    name = "products"
