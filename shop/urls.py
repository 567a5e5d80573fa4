"""Root URLs: the API at the old service's paths, its index, schema and docs, and the admin."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop.routers import optional_slash
from shop.views import ApiIndexView, favicon

urlpatterns = [
    path("", ApiIndexView.as_view(), name="api-index"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    re_path(optional_slash("api/schema"), SpectacularAPIView.as_view(), name="schema"),
    re_path(
        optional_slash("api/docs"), SpectacularSwaggerView.as_view(url_name="schema"), name="docs"
    ),
    path("", include("users.urls")),
    path("", include("products.urls")),
    path("", include("purchases.urls")),
]

handler400 = "shop.error_responses.bad_request"
handler403 = "shop.error_responses.permission_denied"
handler404 = "shop.error_responses.not_found"
handler500 = "shop.error_responses.server_error"
