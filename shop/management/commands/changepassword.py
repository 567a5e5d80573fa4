"""`manage.py changepassword`: the users app's (`users.management.commands.changepassword`).

Django runs the command of the first app in INSTALLED_APPS that has one, and the users app
comes after django.contrib.auth (its admin unregisters what auth, knox and django-otp
register); the shop app comes first, so it names the users app's command here.
"""

from users.management.commands.changepassword import Command

__all__ = ["Command"]
