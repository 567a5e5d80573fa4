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
           p.updated_at, t.units_sold, t.purchase_count, p.metal_type, p.stone_type,
           p.customizable
    FROM ({PRODUCTS_SQL}) AS t JOIN products_product AS p ON p.id = t.product_id
    ORDER BY t.units_sold DESC, t.product_id
"""
WINDOW_SQL = "AND created_at >= %(since)s AND created_at < %(until)s"

# All time, as one would hand-write it on the maintained totals (purchases.totals): the
# rank indexes' order and partial condition, so the top rows come off the index.
TOTALS_CUSTOMERS_SQL = """
    SELECT user_id, spent_cents * 0.01 AS total_spent, purchase_count
    FROM purchases_customersales
    WHERE purchase_count > 0
    ORDER BY spent_cents DESC, user_id
    LIMIT %(limit)s
"""
TOTALS_PRODUCTS_SQL = """
    SELECT product_id, units_sold, purchase_count
    FROM purchases_productsales
    WHERE purchase_count > 0
    ORDER BY units_sold DESC, product_id
    LIMIT %(limit)s
"""
TOTALS_CUSTOMER_OBJECT_SQL = """
    SELECT u.id, u.first_name, u.last_name, u.email, u.gender, u.date_joined,
           t.spent_cents * 0.01 AS total_spent, t.purchase_count
    FROM purchases_customersales AS t JOIN users_user AS u ON u.id = t.user_id
    WHERE t.purchase_count > 0
    ORDER BY t.spent_cents DESC, t.user_id
    LIMIT %(limit)s
"""
TOTALS_PRODUCT_OBJECT_SQL = """
    SELECT p.id, p.sku, p.name, p.description, p.category, p.price, p.created_at,
           p.updated_at, t.units_sold, t.purchase_count, p.metal_type, p.stone_type,
           p.customizable
    FROM purchases_productsales AS t JOIN products_product AS p ON p.id = t.product_id
    WHERE t.purchase_count > 0
    ORDER BY t.units_sold DESC, t.product_id
    LIMIT %(limit)s
"""
# What recomputing the totals reads (purchases.totals.rebuild): the raw GROUP BY it is held to.
RAW_GROUP_BY_SQL = [
    """
    SELECT user_id, SUM(quantity * unit_price) * 100, SUM(quantity), COUNT(*)
    FROM purchases_purchase WHERE user_id IS NOT NULL GROUP BY user_id
    """,
    """
    SELECT product_id, SUM(quantity), COUNT(*), SUM(quantity * unit_price) * 100
    FROM purchases_purchase GROUP BY product_id
    """,
    # The customers' months and the days' revenue, in the shop's time zone (UTC here).
    """
    SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date,
           SUM(quantity * unit_price) * 100
    FROM purchases_purchase WHERE user_id IS NOT NULL GROUP BY 1, 2
    """,
    """
    SELECT (created_at AT TIME ZONE 'UTC')::date, SUM(quantity * unit_price) * 100, COUNT(*)
    FROM purchases_purchase GROUP BY 1
    """,
]
