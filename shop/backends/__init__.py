"""Database backends of the project's own: Django's, with connection failures told apart."""
