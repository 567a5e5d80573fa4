"""The catalogue: `GET/POST /products`, `GET/PATCH/DELETE /products/{id}`."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from products import services
from products.filters import ProductFilter
from products.models import Product
from products.serializers import ProductSerializer
from shop.exports import CSVExportMixin
from shop.permissions import ANYONE, staff_may
from shop.schema import DeletedSerializer, error
from shop.viewsets import ShopViewSet


@extend_schema_view(
    destroy=extend_schema(
        responses={200: DeletedSerializer, 409: error("The product has purchases: kept.")}
    )
)
class ProductViewSet(CSVExportMixin, ShopViewSet):
    """Anyone reads, staff write (through `products.services`); a product with purchases
    cannot be deleted, only discontinued (`active: false`), after which only staff see
    it. The list is also CSV (`Accept: text/csv` or `?format=csv`)."""

    queryset = Product.objects.order_by("id")
    serializer_class = ProductSerializer
    filterset_class = ProductFilter
    # The product object's fields, one column each.
    export_columns = {name: name for name in ProductSerializer.Meta.fields}
    export_filename = "products.csv"
    permission = "products.view_product"  # staff who read discontinued products too
    write_permission = "products.change_product"
    action_permissions = {"create": "products.add_product", "destroy": "products.delete_product"}
    open_to = {"list": ANYONE, "retrieve": ANYONE, "metadata": ANYONE}

    def get_queryset(self):
        products = super().get_queryset()
        if staff_may(self.request, self):
            return products
        return products.available()

    def perform_create(self, serializer):
        serializer.instance = services.create_product(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.update_product(
            serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.delete_product(instance)
