"""`purchases.refunds` and `/purchases/{id}/refunds`: what may be refunded, by whom, its record."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from audit.models import AuditEvent
from conftest import client_for, in_role
from purchases import refunds
from purchases.models import Purchase, Refund
from purchases.services import delete_purchase

pytestmark = pytest.mark.django_db


@pytest.fixture
def purchase(buy, customer, product):
    """5 mugs at 12.50: 62.50 paid."""
    return buy(customer, product, quantity=5)


def refund_url(purchase):
    return f"/purchases/{purchase.pk}/refunds"


def post(client, purchase, **body):
    return client.post(refund_url(purchase), body, format="json")


def test_units_alone_are_refunded_at_the_unit_price_paid(staff_client, staff, purchase):
    response = post(staff_client, purchase, quantity=2, reason="returned", note="Chipped box")

    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "purchase_id": purchase.pk,
        "quantity": 2,
        "amount": "25.00",
        "reason": "returned",
        "note": "Chipped box",
        "created_at": body["created_at"],
        "created_by": staff.pk,
        "created_by_email": "staff@example.com",
    }
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (2, Decimal("25.00"))
    assert purchase.net_total == Decimal("37.50")


def test_units_with_an_amount_refund_the_amount_given(staff_client, purchase):
    response = post(staff_client, purchase, quantity=2, amount="20.00", reason="returned")

    assert response.status_code == 201
    assert (response.json()["quantity"], response.json()["amount"]) == (2, "20.00")
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (2, Decimal("20.00"))


def test_an_amount_alone_returns_no_unit(staff_client, purchase):
    response = post(staff_client, purchase, amount="5.5", reason="goodwill")

    assert response.status_code == 201
    assert (response.json()["quantity"], response.json()["amount"]) == (0, "5.50")
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (0, Decimal("5.50"))


def test_more_units_than_remain_are_refused(staff_client, staff, purchase):
    refunds.refund_purchase(purchase, by=staff, quantity=4, reason="returned")

    response = post(staff_client, purchase, quantity=2, reason="returned")

    assert response.status_code == 400
    assert response.json() == {"quantity": ["Only 1 of the 5 units bought remain to be returned."]}


def test_once_every_unit_is_back_no_unit_may_be_returned(staff, purchase):
    refunds.refund_purchase(
        purchase, by=staff, quantity=5, amount=Decimal("50.00"), reason="returned"
    )

    with pytest.raises(ValidationError) as raised:
        refunds.refund_purchase(purchase, by=staff, quantity=1, reason="returned")

    assert raised.value.message_dict == {
        "quantity": ["All 5 units bought have been returned already."]
    }


def test_more_money_than_remains_is_refused(staff_client, staff, purchase):
    refunds.refund_purchase(purchase, by=staff, amount=Decimal("60.00"), reason="goodwill")

    response = post(staff_client, purchase, amount="2.51", reason="goodwill")

    assert response.status_code == 400
    assert response.json() == {"amount": ["Only 2.50 of the 62.50 paid remains to be refunded."]}


def test_units_worth_more_than_the_money_left_need_an_amount(staff_client, staff, purchase):
    refunds.refund_purchase(purchase, by=staff, amount=Decimal("55.00"), reason="goodwill")

    refused = post(staff_client, purchase, quantity=1, reason="returned")
    accepted = post(staff_client, purchase, quantity=1, amount="7.50", reason="returned")

    assert refused.status_code == 400
    assert "give an amount of at most 7.50" in refused.json()["quantity"][0]
    assert accepted.status_code == 201
    purchase.refresh_from_db()
    assert purchase.net_total == Decimal("0.00")


def test_the_whole_purchase_may_be_refunded_to_the_cent(staff_client, purchase):
    assert post(staff_client, purchase, amount="62.49", reason="mistake").status_code == 201
    assert post(staff_client, purchase, amount="0.01", reason="mistake").status_code == 201
    assert post(staff_client, purchase, amount="0.01", reason="mistake").status_code == 400


def test_a_refund_needs_units_or_money(staff_client, purchase):
    response = post(staff_client, purchase, reason="other")

    assert response.status_code == 400
    assert response.json() == {"detail": [refunds.NOTHING_TO_REFUND]}


@pytest.mark.parametrize("reason", [None, "", "broken", "RETURNED"])
def test_the_reason_is_one_of_the_list(staff_client, purchase, reason):
    body = {"quantity": 1} if reason is None else {"quantity": 1, "reason": reason}

    response = staff_client.post(refund_url(purchase), body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    assert not Refund.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 0),
        ("quantity", -1),
        ("quantity", "1"),
        ("quantity", 1.5),
        ("amount", "0"),
        ("amount", "0.00"),
        ("amount", "-1.00"),
        ("amount", "1.005"),
        ("amount", "1e1"),
        ("amount", "NaN"),
    ],
)
def test_units_and_money_must_be_positive_and_plain(staff_client, purchase, field, value):
    response = post(staff_client, purchase, reason="returned", **{field: value})

    assert response.status_code == 400
    assert list(response.json()) == [field]
    purchase.refresh_from_db()
    assert (purchase.refunded_quantity, purchase.refunded_amount) == (0, Decimal("0"))


def test_the_service_refuses_money_with_fractions_of_a_cent(staff, purchase):
    with pytest.raises(ValidationError) as raised:
        refunds.refund_purchase(purchase, by=staff, amount=Decimal("1.001"), reason="other")

    assert list(raised.value.message_dict) == ["amount"]


def test_a_customer_may_not_refund_even_their_own_purchase(customer_client, purchase):
    assert post(customer_client, purchase, quantity=1, reason="returned").status_code == 403
    assert customer_client.get(refund_url(purchase)).status_code == 403
    assert not Refund.objects.exists()


def test_anonymous_callers_are_asked_to_sign_in(anon_client, purchase):
    assert post(anon_client, purchase, quantity=1, reason="returned").status_code == 401
    assert anon_client.get(refund_url(purchase)).status_code == 401


@pytest.mark.parametrize("purchase_id", ["999999", "abc", "\uff11"])
def test_refunds_of_a_purchase_that_does_not_exist_are_404(staff_client, purchase_id):
    path = f"/purchases/{purchase_id}/refunds"

    assert staff_client.get(path).status_code == 404
    posted = staff_client.post(path, {"quantity": 1, "reason": "returned"}, format="json")
    assert posted.status_code == 404


def test_both_slash_forms_are_served(staff_client, purchase):
    body = {"quantity": 1, "reason": "returned"}
    assert staff_client.post(refund_url(purchase) + "/", body, format="json").status_code == 201
    assert staff_client.get(refund_url(purchase) + "/").status_code == 200


def test_the_list_is_the_purchases_refunds_newest_first(
    staff_client, staff, purchase, buy, customer, product, django_assert_num_queries
):
    first = refunds.refund_purchase(purchase, by=staff, quantity=1, reason="returned")
    second = refunds.refund_purchase(purchase, by=staff, amount=Decimal("1.00"), reason="goodwill")
    elsewhere = buy(customer, product)
    refunds.refund_purchase(elsewhere, by=staff, quantity=1, reason="damaged")

    # The token and its user, the staff member's permissions (2), the purchase, count, page.
    with django_assert_num_queries(6):
        response = staff_client.get(refund_url(purchase))

    assert [r["id"] for r in response.json()] == [second.pk, first.pk]
    assert response["X-Total-Count"] == "2"


def test_a_refund_sent_again_with_its_idempotency_key_is_given_once(staff_client, purchase):
    body = {"quantity": 1, "reason": "returned"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "refund-1"}

    first = staff_client.post(refund_url(purchase), body, format="json", **headers)
    again = staff_client.post(refund_url(purchase), body, format="json", **headers)

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Refund.objects.count() == 1


def test_a_purchase_deleted_meanwhile_cannot_be_refunded(staff, purchase):
    Purchase.objects.filter(pk=purchase.pk).delete()

    with pytest.raises(Purchase.DoesNotExist):
        refunds.refund_purchase(purchase, by=staff, quantity=1, reason="returned")


def test_deleting_a_refunded_purchase_removes_its_refunds(staff_client, staff, purchase):
    refunds.refund_purchase(purchase, by=staff, quantity=1, reason="returned")

    assert staff_client.delete(f"/purchases/{purchase.pk}").status_code == 200
    assert staff_client.delete(f"/purchases/{purchase.pk}").status_code == 404
    assert not Refund.objects.exists()


def test_the_refund_keeps_who_gave_it_after_they_are_deleted(staff, make_user, purchase):
    colleague = make_user(is_staff=True, email="kim@example.com")
    refund = refunds.refund_purchase(purchase, by=colleague, quantity=1, reason="returned")

    colleague.delete()

    refund.refresh_from_db()
    assert (refund.created_by_id, refund.created_by_email) == (None, "kim@example.com")


def test_a_refund_by_staff_deleted_meanwhile_keeps_their_email_only(make_user, purchase):
    colleague = make_user(is_staff=True, email="gone@example.com")
    type(colleague).objects.filter(pk=colleague.pk).delete()

    refund = refunds.refund_purchase(purchase, by=colleague, quantity=1, reason="returned")

    refund.refresh_from_db()
    assert (refund.created_by_id, refund.created_by_email) == (None, "gone@example.com")


@pytest.mark.parametrize(
    ("role", "listed", "refunded"),
    [("Owner", 200, 201), ("Support", 200, 201), ("Analyst", 200, 403), ("Catalogue", 403, 403)],
)
def test_roles_that_read_purchases_list_refunds_and_those_that_refund_give_them(
    make_user, purchase, role, listed, refunded
):
    client = client_for(in_role(make_user(is_staff=True), role))

    assert client.get(refund_url(purchase)).status_code == listed
    assert post(client, purchase, quantity=1, reason="returned").status_code == refunded


def test_a_refund_is_recorded_on_its_purchase_by_whom_gave_it(staff_client, staff, purchase):
    post(staff_client, purchase, quantity=2, reason="returned", note="Chipped box")

    event = AuditEvent.objects.get(action="refunded")
    assert (event.object_type, event.object_id) == ("purchases.purchase", str(purchase.pk))
    assert event.changes == {"refunded_quantity": [0, 2], "refunded_amount": ["0.00", "25.00"]}
    assert (event.actor_id, event.via) == (staff.pk, "api")
    assert event.reason == f"refund {Refund.objects.get().pk}, returned: Chipped box"


def test_a_deleted_purchase_takes_its_refunds_into_the_trail_whole(staff, purchase):
    refund = refunds.refund_purchase(purchase, by=staff, amount="5", reason="goodwill")

    delete_purchase(purchase)

    deleted = AuditEvent.objects.filter(action="deleted")
    refund_event = deleted.get(object_type="purchases.refund")
    assert refund_event.snapshot["amount"] == "5.00"
    assert refund_event.object_id == str(refund.pk)
    assert deleted.filter(object_type="purchases.purchase").exists()
