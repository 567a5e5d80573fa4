"""`manage.py issue_token EMAIL`: a new API token for a user, printed once."""

from django.core.management.base import BaseCommand, CommandError

from audit.context import AuditedCommand
from users import services
from users.models import User


class Command(AuditedCommand, BaseCommand):
    help = "Issue a new API token for the user with this email and print it (stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = User.objects.with_email(email).first()
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        instance, token = services.issue_token(user)
        expiry = instance.expiry.isoformat() if instance.expiry else "never (revoke to end it)"
        self.stdout.write(f"{token}\n")
        self.stderr.write(f"Token for {user.email}, expires: {expiry}")
