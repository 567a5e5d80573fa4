"""`manage.py reset_2fa EMAIL`: removes a staff member's second factor, for when no superuser
can sign in to reset it in the admin (`users.second_factor.reset`)."""

from django.core.management.base import BaseCommand, CommandError

from audit.context import AuditedCommand
from users import second_factor
from users.models import User


class Command(AuditedCommand, BaseCommand):
    help = (
        "Remove the authenticator app and recovery codes of the user with this email: they set "
        "up a new app at their next sign-in to the admin."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            removed = second_factor.reset(user)
        except User.DoesNotExist:
            raise CommandError(f"No user with email {email!r}.") from None
        self.stdout.write(
            f"Second factor reset for {user.email} ({removed} device(s) removed): they set up "
            "a new authenticator app at their next sign-in to the admin."
        )
