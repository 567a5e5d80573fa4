"""The user object of the users API and the token request."""

from rest_framework import serializers

from shop.ratelimit import client_address
from shop.serializers import CachedFieldsMixin
from users import second_factor
from users.models import User
from users.services import DUPLICATE_EMAIL
from users.sign_in import authenticate_limited

CURRENT_PASSWORD_NEEDED = "To change your own password, also send your current password."


def password_field(**options):
    """A password as typed: never trimmed, at most 128 characters, masked in forms."""
    return serializers.CharField(
        trim_whitespace=False, max_length=128, style={"input_type": "password"}, **options
    )


class UserSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """`id`, names, `email`, `gender`, `date_joined`; `password` is write-only.

    Staff flags and the password hash are not fields at all, so they can be
    neither read nor written through the API. Changing one's own password needs
    `current_password` too, as Django's own password change form does: a stolen
    token alone cannot take the account over. Staff setting a customer's password
    need not know the old one.
    """

    password = password_field(write_only=True, required=False)
    current_password = password_field(
        write_only=True,
        required=False,
        help_text="Your current password: required to change your own `password`.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "first_name",
            "last_name",
            "email",
            "gender",
            "date_joined",
            "password",
            "current_password",
        ]
        read_only_fields = ["id", "date_joined"]
        extra_kwargs = {
            "first_name": {"required": True, "allow_blank": False},
            "last_name": {"required": True, "allow_blank": False},
            "gender": {"required": True, "allow_blank": False},
            # Uniqueness ignores case; checked below against the functional index.
            "email": {"validators": []},
        }

    def validate_email(self, value):
        if User.objects.email_taken(value, exclude=self.instance):
            raise serializers.ValidationError(DUPLICATE_EMAIL)
        return value

    def validate(self, attrs):
        """Asks for `current_password` when users change their own password; the service
        checks it (`users.services.change_password`). Staff setting another's need not."""
        current = attrs.pop("current_password", None)
        request = self.context.get("request")
        changes_own_password = (
            "password" in attrs
            and self.instance is not None
            and request is not None
            and request.user.pk == self.instance.pk
        )
        if changes_own_password:
            if current is None:
                raise serializers.ValidationError({"current_password": [CURRENT_PASSWORD_NEEDED]})
            attrs["current_password"] = current
        return attrs


class TokenRequestSerializer(serializers.Serializer):
    """An email and password; for a staff account also `otp`, its second factor
    (`users.second_factor`): without it 401, wrong or used already 401 too."""

    email = serializers.EmailField()
    password = password_field()
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=32,
        help_text="Staff only: the current code of their authenticator app, or a recovery code.",
    )

    def validate(self, attrs):
        request = self.context["request"]
        user = authenticate_limited(request, email=attrs["email"], password=attrs["password"])
        if user is None:
            raise serializers.ValidationError(
                "Unable to sign in with the given email and password.", code="authorization"
            )
        second_factor.check_for_token(user, attrs.get("otp"), address=client_address(request))
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True, allow_null=True)
