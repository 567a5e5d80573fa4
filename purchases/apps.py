from django.apps import AppConfig


class PurchasesConfig(AppConfig):
    """Purchases, a customer's purchase history and the sales analytics."""

    name = "purchases"
