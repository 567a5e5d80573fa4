"""Accounts that cannot be lost or taken over: the last staff member, one's own password."""

import pytest
from django.db import transaction
from django.urls import reverse

from conftest import PASSWORD, client_for
from users.models import User

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-and-long-passphrase-7"


class TestTheLastStaffMember:
    def test_deleting_the_last_active_staff_member_is_409_and_keeps_them(self, staff_client, staff):
        response = staff_client.delete(f"/users/{staff.pk}")

        assert response.status_code == 409
        assert "last active staff member" in response.json()["detail"]
        assert User.objects.filter(pk=staff.pk).exists()

    def test_staff_may_delete_their_own_account_while_another_staff_remains(
        self, staff_client, staff, make_user
    ):
        make_user(is_staff=True)

        response = staff_client.delete(f"/users/{staff.pk}")

        assert response.status_code == 200
        assert not User.objects.filter(pk=staff.pk).exists()

    def test_an_inactive_colleague_does_not_count_as_remaining_staff(
        self, staff_client, staff, make_user
    ):
        make_user(is_staff=True, is_active=False)

        assert staff_client.delete(f"/users/{staff.pk}").status_code == 409

    def test_the_admin_refuses_to_delete_the_last_staff_member_with_a_message(self, client, staff):
        client.force_login(staff)

        response = client.post(
            reverse("admin:users_user_delete", args=[staff.pk]), {"post": "yes"}, follow=True
        )

        assert response.status_code == 200
        assert "last active staff member" in response.content.decode()
        assert User.objects.filter(pk=staff.pk).exists()

    def test_the_admin_refuses_to_take_staff_status_from_the_last_staff_member(self, admin_client):
        (admin,) = User.objects.filter(is_staff=True)
        url = reverse("admin:users_user_change", args=[admin.pk])
        form = {
            "email": admin.email,
            "first_name": "A",
            "last_name": "B",
            "gender": "",
            "is_active": "on",
            # The purchases inline's management form (no purchases shown).
            "purchases-TOTAL_FORMS": "0",
            "purchases-INITIAL_FORMS": "0",
        }

        response = admin_client.post(url, form, follow=True)

        assert "last active staff member" in response.content.decode()
        admin.refresh_from_db()
        assert admin.is_staff

    def test_bulk_deleting_every_staff_member_in_the_admin_deletes_none(
        self, admin_client, make_user
    ):
        other = make_user(is_staff=True)
        staff_ids = list(User.objects.filter(is_staff=True).values_list("pk", flat=True))

        response = admin_client.post(
            reverse("admin:users_user_changelist"),
            {"action": "delete_selected", "_selected_action": staff_ids, "post": "yes"},
            follow=True,
        )

        assert "last active staff member" in response.content.decode()
        assert User.objects.filter(pk=other.pk).exists()
        assert User.objects.filter(is_staff=True).count() == len(staff_ids)


class TestChangingOnesOwnPassword:
    def url(self, user):
        return f"/users/{user.pk}"

    def test_without_the_current_password_it_is_400_and_nothing_changes(
        self, customer_client, customer
    ):
        response = customer_client.patch(
            self.url(customer), {"password": NEW_PASSWORD}, format="json"
        )

        assert response.status_code == 400
        assert "current_password" in response.json()
        customer.refresh_from_db()
        assert customer.check_password(PASSWORD)

    def test_with_a_wrong_current_password_it_is_400_and_the_tokens_stay(
        self, customer_client, customer
    ):
        response = customer_client.patch(
            self.url(customer),
            {"password": NEW_PASSWORD, "current_password": "a guess"},
            format="json",
        )

        assert response.status_code == 400
        assert response.json()["current_password"] == ["Your current password is not correct."]
        assert customer_client.get(self.url(customer)).status_code == 200
        customer.refresh_from_db()
        assert customer.check_password(PASSWORD)

    def test_with_the_current_password_it_changes(self, customer_client, customer):
        response = customer_client.patch(
            self.url(customer),
            {"password": NEW_PASSWORD, "current_password": PASSWORD},
            format="json",
        )

        assert response.status_code == 200
        customer.refresh_from_db()
        assert customer.check_password(NEW_PASSWORD)

    def test_staff_changing_their_own_password_also_need_the_current_one(self, staff_client, staff):
        response = staff_client.patch(self.url(staff), {"password": NEW_PASSWORD}, format="json")

        assert response.status_code == 400
        assert "current_password" in response.json()

    def test_staff_reset_a_customers_password_without_knowing_it(self, staff_client, customer):
        response = staff_client.patch(self.url(customer), {"password": NEW_PASSWORD}, format="json")

        assert response.status_code == 200
        customer.refresh_from_db()
        assert customer.check_password(NEW_PASSWORD)

    def test_guesses_at_the_current_password_are_throttled_like_sign_ins(
        self, settings, customer, customer_client
    ):
        settings.SHOP_TOKEN_RATE = "3/minute"
        guess = {"password": NEW_PASSWORD, "current_password": "guess"}

        statuses = [
            customer_client.patch(self.url(customer), guess, format="json").status_code
            for _ in range(4)
        ]

        assert statuses == [400, 400, 400, 429]


def test_a_token_for_a_user_deleted_meanwhile_is_never_issued(customer):
    from users.services import issue_token

    stale = User.objects.get(pk=customer.pk)
    User.objects.filter(pk=customer.pk).delete()

    with pytest.raises(User.DoesNotExist):
        issue_token(stale)


def test_a_profile_change_to_a_user_deleted_meanwhile_does_not_bring_them_back(customer):
    from users.services import update_user

    stale = User.objects.get(pk=customer.pk)
    User.objects.filter(pk=customer.pk).delete()

    with pytest.raises(User.DoesNotExist):
        update_user(stale, last_name="Back")
    with pytest.raises(User.DoesNotExist), transaction.atomic():
        stale.save()
    assert not User.objects.filter(email=customer.email).exists()


def test_signed_in_as_a_customer_changing_someone_else_is_404(customer_client, other_customer):
    response = client_for(None).get(f"/users/{other_customer.pk}")
    assert response.status_code == 401
    response = customer_client.patch(
        f"/users/{other_customer.pk}", {"password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 404
