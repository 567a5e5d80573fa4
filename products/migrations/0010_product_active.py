from django.db import migrations, models


class Migration(migrations.Migration):
    """`Product.active`: a discontinued product is kept but no longer sold.

    A column with a constant default in the database: on PostgreSQL (11 and later) adding
    it rewrites no row and holds the table's lock only for an instant, and the release
    still serving, which inserts products without naming it, keeps working.
    """

    dependencies = [
        ("products", "0009_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="active",
            field=models.BooleanField(
                db_default=True,
                default=True,
                help_text="Unticked: discontinued — kept with its sales, hidden from customers, "
                "not for sale.",
            ),
        ),
    ]
