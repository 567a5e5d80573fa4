import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.recording import record, record_many
from conftest import in_role
from products.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_browser(client, staff):
    client.force_login(staff)
    return client


def test_the_events_list_is_read_only(staff_browser):
    record("updated", object_type="products.product", object_id="1")

    response = staff_browser.get(reverse("admin:audit_auditevent_changelist"))

    assert response.status_code == 200
    assert b"products.product" in response.content
    assert staff_browser.get(reverse("admin:audit_auditevent_add")).status_code == 403


def test_the_search_finds_an_accounts_events_by_email(staff_browser, staff, customer):
    record("updated", object_type="products.product", object_id="1", actor=customer)
    record("updated", object_type="products.product", object_id="2", actor=staff)

    response = staff_browser.get(
        reverse("admin:audit_auditevent_changelist"), {"q": "ALICE@example.com"}
    )

    shown = response.context["cl"].result_list
    assert [event.object_id for event in shown] == ["1"]


def test_the_search_finds_an_objects_events_by_id(staff_browser):
    record("updated", object_type="products.product", object_id="41")
    record("updated", object_type="products.product", object_id="42")

    response = staff_browser.get(reverse("admin:audit_auditevent_changelist"), {"q": "42"})

    assert [event.object_id for event in response.context["cl"].result_list] == ["42"]


def test_a_history_page_shows_each_change_before_and_after(staff_browser):
    product = Product.objects.create(sku="H-1", name="Ring", category="rings", price="5.00")
    record("updated", product, changes={"price": ["5.00", "6.50"]})

    response = staff_browser.get(reverse("admin:products_product_history", args=[product.pk]))

    assert response.status_code == 200
    assert "price: 5.00 → 6.50" in response.content.decode()


def test_a_deleted_objects_history_is_still_shown(staff_browser):
    record("deleted", object_type="products.product", object_id="999", snapshot={"sku": "GONE"})

    response = staff_browser.get(reverse("admin:products_product_history", args=[999]))

    assert response.status_code == 200
    assert "product 999 (deleted)" in response.content.decode()
    assert AuditEvent.objects.get().snapshot == {"sku": "GONE"}


def test_a_role_without_the_trail_does_not_see_the_events(client, make_user):
    client.force_login(in_role(make_user(is_staff=True), "Support"))

    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 403


def test_a_long_value_is_cut_on_the_page_and_kept_whole_in_the_event(staff_browser):
    product = Product.objects.create(sku="H-2", name="Ring", category="rings", price="5.00")
    record("updated", product, changes={"description": ["", "x" * 5000]})

    response = staff_browser.get(reverse("admin:products_product_history", args=[product.pk]))

    assert "x" * 5000 not in response.content.decode()
    assert "description: — → " not in response.content.decode()
    assert len(AuditEvent.objects.get().changes["description"][1]) == 5000


@pytest.mark.parametrize("rows", [5, 50])
def test_the_events_list_reads_the_same_whatever_its_length(
    staff_browser, rows, django_assert_max_num_queries
):
    record_many(
        "updated",
        [Product(pk=n) for n in range(rows)],
        changes=lambda product: {"price": ["1.00", "2.00"]},
    )

    with django_assert_max_num_queries(15):
        response = staff_browser.get(reverse("admin:audit_auditevent_changelist"))

    assert response.status_code == 200


def test_a_users_history_page_shows_their_role_changes(staff_browser, customer, staff):
    record("role_changed", customer, changes={"roles": [[], ["Analyst"]]})

    response = staff_browser.get(reverse("admin:users_user_history", args=[customer.pk]))

    assert "roles: — → " not in response.content.decode()
    assert "[&quot;Analyst&quot;]" in response.content.decode()
