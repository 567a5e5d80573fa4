"""The project package: settings, root URLs, WSGI/ASGI, the Celery app and shared conventions."""

# The Celery app is loaded with Django, so that `@shared_task` binds to it in every process.
from shop.celery import app as celery_app

__all__ = ["celery_app"]
