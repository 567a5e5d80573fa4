"""`manage.py ensure_staff`: makes sure a local staff account exists (used by `make run`)."""

import io
import os
import secrets

import segno
from django.core.management.base import BaseCommand
from django.db import transaction

from audit.context import AuditedCommand
from users import second_factor, services
from users.models import User


class Command(AuditedCommand, BaseCommand):
    help = (
        "Create the local staff account on first run and print its email, a generated password "
        "and an API token; later runs say how to get a new token or password."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--email",
            default=os.environ.get("SHOP_ADMIN_EMAIL", "admin@example.com"),
            help="The staff account's email (default: $SHOP_ADMIN_EMAIL or admin@example.com).",
        )

    def handle(self, *args, email, **options):
        user = User.objects.with_email(email).first()
        if user is not None:
            self.stdout.write(
                f"Staff account {user.email} exists.\n"
                f"  New API token:  .venv/bin/python manage.py issue_token {user.email}\n"
                f"  New password:   .venv/bin/python manage.py changepassword {user.email}\n"
                f"  New second factor (set up at next sign-in):  "
                f".venv/bin/python manage.py reset_2fa {user.email}"
            )
            return
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            user = services.create_user(
                email=email,
                password=password,
                first_name="Shop",
                last_name="Admin",
                gender="unspecified",
                is_staff=True,
                is_superuser=True,
            )
            _, token = services.issue_token(user)
            app, recovery_codes = second_factor.give_app(user)
        self.stdout.write(
            self.style.SUCCESS("Created the staff account (shown once, keep it somewhere safe):")
            + f"\n  email:     {user.email}\n  password:  {password}\n  API token: {token}\n"
            '  second factor, after the password (the admin, POST /auth/token\'s "otp"):\n'
            f"    authenticator app secret: {second_factor.secret(app)}\n"
            f"    or its URI (a QR code of it):  {app.config_url}\n"
            f"    recovery codes (one use each): {' '.join(recovery_codes)}\n"
            "  Try: curl -H 'Authorization: Token "
            + token
            + "' http://127.0.0.1:"
            + os.environ.get("PORT", "8000")
            + "/users"
        )
        # The app's QR code, to scan from the terminal (written whole: the command's output
        # would end each of segno's writes with a line break).
        qr_code = io.StringIO()
        segno.make(app.config_url, error="l").terminal(out=qr_code, compact=True)
        self.stdout.write(qr_code.getvalue(), ending="")
