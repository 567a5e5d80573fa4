from django.urls import re_path

from shop.routers import OptionalSlashRouter, optional_slash
from users.views import TokenListView, TokenView, UserViewSet

router = OptionalSlashRouter()
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    re_path(optional_slash("auth/token"), TokenView.as_view(), name="auth-token"),
    re_path(optional_slash("auth/tokens"), TokenListView.as_view(), name="auth-tokens"),
    *router.urls,
]
