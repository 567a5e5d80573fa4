"""The user object of SPEC 4.1 and the token request."""

from django.contrib.auth import authenticate
from knox.models import AuthToken
from rest_framework import serializers

from users import services
from users.models import User


class UserSerializer(serializers.ModelSerializer):
    """`id`, names, `email`, `gender`, `date_joined`; `password` is write-only.

    Staff flags and the password hash are not fields at all, so they can be
    neither read nor written through the API.
    """

    password = serializers.CharField(
        write_only=True,
        required=False,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
    )

    class Meta:
        model = User
        fields = ["id", "first_name", "last_name", "email", "gender", "date_joined", "password"]
        read_only_fields = ["id", "date_joined"]
        extra_kwargs = {
            "first_name": {"required": True, "allow_blank": False},
            "last_name": {"required": True, "allow_blank": False},
            "gender": {"required": True, "allow_blank": False},
            # Uniqueness ignores case; checked below against the functional index.
            "email": {"validators": []},
        }

    def validate_email(self, value):
        if services.email_taken(value, exclude=self.instance):
            raise serializers.ValidationError(services.DUPLICATE_EMAIL)
        return value

    def create(self, validated_data):
        return services.create_user(**validated_data)

    def update(self, instance, validated_data):
        in_use = getattr(self.context.get("request"), "auth", None)
        return services.update_user(
            instance,
            keep_token=in_use if isinstance(in_use, AuthToken) else None,
            **validated_data,
        )


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField()
    password = serializers.CharField(
        trim_whitespace=False, max_length=128, style={"input_type": "password"}
    )

    def validate(self, attrs):
        user = authenticate(
            self.context["request"], email=attrs["email"], password=attrs["password"]
        )
        if user is None:
            raise serializers.ValidationError(
                "Unable to sign in with the given email and password.", code="authorization"
            )
        attrs["user"] = user
        return attrs


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True, allow_null=True)
