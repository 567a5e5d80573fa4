"""The users API (SPEC 4.1) and API tokens (SPEC 4.6)."""

from django.contrib.auth import user_logged_in
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.authentication import TokenAuthentication
from shop.permissions import AnonymousOrStaff, Anyone, ByAction, Customer
from shop.throttling import SignupThrottle, TokenThrottle
from shop.viewsets import ShopViewSet
from users.filters import UserFilter
from users.models import User
from users.serializers import TokenRequestSerializer, TokenSerializer, UserSerializer


class UserViewSet(ShopViewSet):
    """Visitors sign up; a customer reads and updates only themself; staff do everything."""

    queryset = User.objects.order_by("id")
    serializer_class = UserSerializer
    filterset_class = UserFilter
    owner_field = "pk"
    permission_classes = [
        ByAction(create=AnonymousOrStaff, retrieve=Customer, partial_update=Customer)
    ]

    def get_throttles(self):
        return [SignupThrottle()] if self.action == "create" else []


RevokedSerializer = inline_serializer(
    "Revoked", {"detail": serializers.CharField(), "revoked": serializers.IntegerField()}
)


class TokenView(APIView):
    """`POST`: trade an email and password for an API token. `DELETE`: revoke the token in use."""

    throttle_classes = [TokenThrottle]

    def get_permissions(self):
        return [Anyone()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_authenticators(self):
        # Revoking needs the token itself; signing in needs no prior credential.
        return [TokenAuthentication()]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenSerializer}, auth=[])
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        # The sweep of expired tokens, once per sign-in rather than on every request.
        AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
        instance, token = AuthToken.objects.create(user=user)
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        return Response(TokenSerializer({"token": token, "expiry": instance.expiry}).data)

    @extend_schema(request=None, responses={200: RevokedSerializer})
    def delete(self, request):
        request.auth.delete()
        return Response({"detail": "Token revoked.", "revoked": 1}, status=status.HTTP_200_OK)


class TokenListView(APIView):
    """`DELETE`: revoke every token of the signed-in user (sign out everywhere)."""

    permission_classes = [IsAuthenticated]

    def get_authenticators(self):
        return [TokenAuthentication()]

    @extend_schema(request=None, responses={200: RevokedSerializer})
    def delete(self, request):
        revoked, _ = request.user.auth_token_set.all().delete()
        return Response({"detail": "All tokens revoked.", "revoked": revoked})
