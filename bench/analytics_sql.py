"""The hand-written SQL the analytics are measured against (bench/analytics.py, bench/urls.py)."""

CUSTOMERS_SQL = """
    SELECT user_id, SUM(quantity * unit_price) AS total_spent, COUNT(*) AS purchase_count
    FROM purchases_purchase
    WHERE user_id IS NOT NULL {window}
    GROUP BY user_id
    ORDER BY total_spent DESC, user_id
    LIMIT %(limit)s
"""
PRODUCTS_SQL = """
    SELECT product_id, SUM(quantity) AS units_sold, COUNT(*) AS purchase_count
    FROM purchases_purchase
    WHERE true {window}
    GROUP BY product_id
    ORDER BY units_sold DESC, product_id
    LIMIT %(limit)s
"""
# What the endpoints answer: the ranked object itself with its figures.
CUSTOMER_OBJECT_SQL = f"""
    SELECT u.id, u.first_name, u.last_name, u.email, u.gender, u.date_joined,
           t.total_spent, t.purchase_count
    FROM ({CUSTOMERS_SQL}) AS t JOIN users_user AS u ON u.id = t.user_id
    ORDER BY t.total_spent DESC, t.user_id
"""
PRODUCT_OBJECT_SQL = f"""
    SELECT p.id, p.sku, p.name, p.description, p.category, p.price, p.created_at,
           p.updated_at, t.units_sold, t.purchase_count
    FROM ({PRODUCTS_SQL}) AS t JOIN products_product AS p ON p.id = t.product_id
    ORDER BY t.units_sold DESC, t.product_id
"""
WINDOW_SQL = "AND created_at >= %(since)s AND created_at < %(until)s"
