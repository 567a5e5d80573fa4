"""The users API and API tokens."""

from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.authentication import TokenAuthentication
from shop.exports import CSVExportMixin
from shop.idempotency import idempotent
from shop.permissions import ANYONE, CUSTOMERS, SIGNED_IN, VISITORS
from shop.ratelimit import client_address
from shop.schema import CONFLICT, DeletedSerializer, error
from shop.throttling import SignupThrottle
from shop.viewsets import ShopViewSet
from users import services
from users.filters import UserFilter
from users.models import User
from users.serializers import TokenRequestSerializer, TokenSerializer, UserSerializer


@extend_schema_view(destroy=extend_schema(responses={200: DeletedSerializer, 409: CONFLICT}))
class UserViewSet(CSVExportMixin, ShopViewSet):
    """Visitors sign up; a customer reads and updates only themself; staff as their role allows.

    Every write goes through `users.services`. Deleting the last active staff
    member is 409. Staff may have the list as CSV (`Accept: text/csv` or `?format=csv`).
    """

    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer
    filterset_class = UserFilter
    # The user object's fields (`UserSerializer`), one column each.
    export_columns = {
        name: name for name in ("id", "first_name", "last_name", "email", "gender", "date_joined")
    }
    export_filename = "users.csv"
    owner_field = "pk"
    permission = "users.view_user"
    write_permission = "users.change_user"
    action_permissions = {"create": "users.add_user", "destroy": "users.delete_user"}
    open_to = {"create": VISITORS, "retrieve": CUSTOMERS, "partial_update": CUSTOMERS}

    # A `current_password` is checked against the sign-in limits (`users.sign_in`).
    checks_passwords = ("partial_update",)

    def get_throttles(self):
        return [SignupThrottle()] if self.action == "create" else []

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.instance = services.create_user(**serializer.validated_data)

    def perform_update(self, serializer):
        in_use = self.request.auth
        serializer.instance = services.update_user(
            serializer.instance,
            by=self.request.user,
            keep_token=in_use if isinstance(in_use, AuthToken) else None,
            address=client_address(self.request),
            **serializer.validated_data,
        )

    def perform_destroy(self, instance):
        services.delete_user(instance, by=self.request.user)


SECOND_FACTOR_MISSING_OR_WRONG = error(
    'A staff account without "otp", or with a wrong or used second-factor code.'
)

RevokedSerializer = inline_serializer(
    "Revoked", {"detail": serializers.CharField(), "revoked": serializers.IntegerField()}
)


class TokenView(APIView):
    """`POST`: trade an email and password (and for staff a second-factor code, `otp`) for an
    API token. `DELETE`: revoke the token in use."""

    # Each password is checked against the sign-in limits (`users.sign_in`).
    checks_passwords = ("post",)

    open_to = {"post": ANYONE, "delete": SIGNED_IN, "metadata": SIGNED_IN}

    def get_authenticators(self):
        # Revoking needs the token itself; signing in needs no prior credential.
        return [TokenAuthentication()]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, 401: SECOND_FACTOR_MISSING_OR_WRONG},
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        instance, token = services.issue_token(serializer.validated_data["user"], request=request)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data)

    @extend_schema(request=None, responses={200: RevokedSerializer})
    def delete(self, request):
        revoked = services.revoke_tokens(request.user, only=request.auth)
        return Response({"detail": "Token revoked.", "revoked": revoked}, status=status.HTTP_200_OK)


class TokenListView(APIView):
    """`DELETE`: revoke every token of the signed-in user (sign out everywhere)."""

    open_to = {"delete": SIGNED_IN, "metadata": SIGNED_IN}

    def get_authenticators(self):
        return [TokenAuthentication()]

    @extend_schema(request=None, responses={200: RevokedSerializer})
    def delete(self, request):
        revoked = services.revoke_tokens(request.user)
        return Response({"detail": "All tokens revoked.", "revoked": revoked})
