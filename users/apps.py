from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Customers and staff: one user model, its API and the API tokens."""

    name = "users"
    verbose_name = "Customers and staff"
