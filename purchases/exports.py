"""The purchases' CSV columns, shared by the API's export and the admin's."""

from purchases import money
from shop.exports import Computed

# The purchase object's fields (`PurchaseSerializer`), one column each, in its order.
PURCHASE_COLUMNS = {
    "id": "id",
    "user_id": "user_id",
    "product_id": "product_id",
    "quantity": "quantity",
    "unit_price": "unit_price",
    "total": Computed(money.paid, "quantity", "unit_price"),
    "created_at": "created_at",
    "customer_email": "customer_email",
    "product_sku": "product_sku",
    "product_name": "product_name",
    "refunded_quantity": "refunded_quantity",
    "refunded_amount": "refunded_amount",
    "net_total": Computed(money.net, "quantity", "unit_price", "refunded_amount"),
}
