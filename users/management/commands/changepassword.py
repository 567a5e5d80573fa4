"""`manage.py changepassword EMAIL`: Django's command, saving through `users.services`, so
that the new password signs the user out of the API too (their tokens are revoked)."""

import getpass

from django.contrib.auth.management.commands import changepassword
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from users import services
from users.models import User

MAX_TRIES = 3


class Command(changepassword.Command):
    help = (
        "Change the password of the user with this email (yours by default); revokes their "
        "API tokens."
    )

    def add_arguments(self, parser):
        # Django's `--database` is not offered: the users service writes to the default one.
        parser.add_argument("username", nargs="?", help="The user's email (yours by default).")

    def handle(self, *args, username=None, **options):
        email = username or getpass.getuser()
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        self.stdout.write(f"Changing password for user '{user}'")
        for _ in range(MAX_TRIES):
            password = self._get_pass()
            if password != self._get_pass("Password (again): "):
                self.stdout.write("Passwords do not match. Please try again.")
                continue
            try:
                services.change_password(user, password)
            except ValidationError as refused:
                self.stderr.write("\n".join(refused.messages))
                continue
            return f"Password changed successfully for user '{user}'"
        raise CommandError(f"Aborting password change for user '{user}' after {MAX_TRIES} attempts")
