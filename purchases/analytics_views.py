"""The sales analytics API: rankings of customers and products over a window, for staff."""

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from purchases import analytics
from purchases.serializers import (
    CustomerSpendSerializer,
    ProductSalesSerializer,
    TopWindowSerializer,
    WindowSerializer,
)
from shop.replica import read_report
from shop.schema import error

EMPTY_WINDOW = "No purchases in this window."
EMPTY_WINDOW_RESPONSE = error(EMPTY_WINDOW)


class PurchaseAnalyticsViewSet(viewsets.GenericViewSet):
    """Sales analytics for staff: who spends the most, what sells the most.

    Windows are half-open, `[since, until)`. A customer since deleted is left out
    of the customer rankings; their purchases still count for the products. These
    are reports: they read the replica when there is one (`shop.replica`).
    """

    permission = "purchases.view_sales_report"
    filter_backends = []
    pagination_class = None

    def window(self, serializer_class=WindowSerializer):
        if not self.request.query_params and serializer_class is WindowSerializer:
            return {}  # all time: nothing to read (the most asked, and cheapest, answer)
        serializer = serializer_class(data=self.request.query_params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    @extend_schema(
        parameters=[WindowSerializer],
        responses={200: CustomerSpendSerializer, 404: EMPTY_WINDOW_RESPONSE},
    )
    @action(detail=False, url_path="most_valuable_customer")
    def most_valuable_customer(self, request):
        """The customer who spent the most in the window (ties: lowest id); 404 if none."""
        window = self.window()
        customer = read_report(
            lambda alias: analytics.most_valuable_customer(**window, using=alias)
        )
        if customer is None:
            raise NotFound(EMPTY_WINDOW)
        return Response(CustomerSpendSerializer(customer).data)

    @extend_schema(
        parameters=[WindowSerializer],
        responses={200: ProductSalesSerializer, 404: EMPTY_WINDOW_RESPONSE},
    )
    @action(detail=False, url_path="most_popular_product")
    def most_popular_product(self, request):
        """The product with the most units sold in the window (ties: lowest id); 404 if none."""
        window = self.window()
        product = read_report(lambda alias: analytics.most_popular_product(**window, using=alias))
        if product is None:
            raise NotFound(EMPTY_WINDOW)
        return Response(ProductSalesSerializer(product).data)

    @extend_schema(
        parameters=[TopWindowSerializer], responses={200: CustomerSpendSerializer(many=True)}
    )
    @action(detail=False, url_path="top_customers")
    def top_customers(self, request):
        """The `limit` biggest spenders of the window, first to last; an empty array if none."""
        window = self.window(TopWindowSerializer)
        customers = read_report(lambda alias: analytics.top_customers(**window, using=alias))
        return Response(CustomerSpendSerializer(customers, many=True).data)

    @extend_schema(
        parameters=[TopWindowSerializer], responses={200: ProductSalesSerializer(many=True)}
    )
    @action(detail=False, url_path="top_products")
    def top_products(self, request):
        """The `limit` best-selling products of the window; an empty array if none."""
        window = self.window(TopWindowSerializer)
        products = read_report(lambda alias: analytics.top_products(**window, using=alias))
        return Response(ProductSalesSerializer(products, many=True).data)
