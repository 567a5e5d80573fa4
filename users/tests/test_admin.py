"""Staff manage users in the admin; nobody else reaches it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from conftest import PASSWORD, in_role
from users import services
from users.forms import AdminOwnPasswordChangeForm, AdminUserPasswordForm

pytestmark = pytest.mark.django_db


def test_customer_cannot_reach_any_admin_page(client, customer, staff):
    client.force_login(customer)

    for url in ["/admin/", "/admin/users/user/", f"/admin/users/user/{staff.pk}/change/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_customer_cannot_sign_in_to_the_admin(client, customer):
    response = client.post(
        "/admin/login/?next=/admin/", {"username": customer.email, "password": PASSWORD}
    )

    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_staff_user_list_runs_a_constant_number_of_queries(
    admin_client, make_user, django_assert_max_num_queries
):
    for _ in range(40):
        make_user()

    # Besides the page's: the session, the user, the session's authenticator app (second
    # factor) and the session saved again (idle expiry counts from the last request). The
    # page's own: the planner's estimate, the count (short lists), the page, and the gender
    # filter's choices (the statistics, or the column itself where there are none).
    with django_assert_max_num_queries(11):
        response = admin_client.get("/admin/users/user/")

    assert response.status_code == 200


def test_staff_search_users_by_email(admin_client, make_user):
    make_user(email="zelda@example.com")
    make_user(email="link@example.com")

    response = admin_client.get("/admin/users/user/?q=zelda")

    assert b"zelda@example.com" in response.content
    assert b"link@example.com" not in response.content


def test_staff_add_a_customer_without_a_password(admin_client):
    from users.models import User

    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "new@example.com",
            "first_name": "New",
            "last_name": "Customer",
            "gender": "other",
            "usable_password": "false",
        },
    )

    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(email="new@example.com")
    assert not user.has_usable_password()


def test_admin_refuses_an_email_differing_only_in_case(admin_client, customer):
    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "ALICE@example.com",
            "first_name": "A",
            "last_name": "B",
            "gender": "x",
            "usable_password": "false",
        },
    )

    assert response.status_code == 200
    assert b"already exists" in response.content


def test_an_owner_gives_staff_status_and_a_role_but_not_superuser_status(client, staff, customer):
    client.force_login(staff)  # an Owner

    response = client.get(reverse("admin:users_user_change", args=[customer.pk]))

    form = response.context["adminform"].form
    assert {"is_superuser", "user_permissions"}.isdisjoint(form.fields)
    page = response.content.decode()
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page
    assert 'name="is_staff"' in page and 'name="is_active"' in page and 'name="groups"' in page


def test_support_changes_a_customer_but_sees_neither_staff_status_nor_role(
    client, make_user, customer
):
    client.force_login(in_role(make_user(is_staff=True), "Support"))

    response = client.get(reverse("admin:users_user_change", args=[customer.pk]))

    assert response.status_code == 200
    fields = set(response.context["adminform"].form.fields)
    assert {"is_staff", "groups", "is_superuser", "user_permissions"}.isdisjoint(fields)
    assert "is_active" in fields


def test_a_superuser_makes_superusers_and_gives_roles_never_single_permissions(
    admin_client, customer
):
    response = admin_client.get(reverse("admin:users_user_change", args=[customer.pk]))

    fields = set(response.context["adminform"].form.fields)
    assert {"is_superuser", "is_staff", "groups"} <= fields
    assert "user_permissions" not in fields
    assert "user_permissions" not in response.content.decode()


def test_the_token_section_has_a_plain_name(admin_client):
    page = admin_client.get("/admin/").content.decode()

    assert 'class="section" title="Models in the API tokens application">API tokens</a>' in page
    assert ">Knox<" not in page
    assert admin_client.get("/admin/knox/").context["title"] == "API tokens administration"


def test_no_view_site_link_and_the_api_docs_among_the_shop_tools(admin_client):
    response = admin_client.get("/admin/")

    page = response.content.decode()
    assert response.context["site_url"] is None
    assert "View site" not in page
    assert '<a href="/api/docs">API documentation</a>' in page
    assert admin_client.get("/api/docs").status_code == 200


def test_every_page_has_an_icon(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response).startswith(b"\x89PNG")


def test_browser_staff_signs_in_and_finds_a_customer(browser_page, staff, make_user):
    make_user(email="zelda@example.com", first_name="Zelda")
    page = browser_page

    page.sign_in(staff)
    page.click("text=Users")
    page.fill("#searchbar", "zelda")
    page.press("#searchbar", "Enter")
    page.shot("user-search")

    assert page.locator("#result_list").inner_text().count("zelda@example.com") == 1


# --- Every admin page is staff only ------------------------------------------------------


def admin_urls(staff):
    """Every admin page the shop adds, and the pages of each shop model."""
    from decimal import Decimal

    from products.models import BackfillRun, Product
    from purchases.services import create_purchase

    product = Product.objects.create(sku="S-1", name="Spoon", price=Decimal("1.00"))
    purchase = create_purchase(user=staff, product=product, quantity=1)
    run = BackfillRun.objects.create(source="x.csv")
    urls = [
        "/admin/",
        "/admin/purchases/purchase/sales/",
        "/admin/purchases/purchase/sales/?period=all",
        "/admin/purchases/purchase/export/",
        "/admin/products/product/backfill/",
        f"/admin/products/product/backfill/?run={run.pk}",
        "/admin/autocomplete/?app_label=purchases&model_name=purchase&field_name=user&term=a",
    ]
    for model, obj in [
        ("users/user", staff),
        ("products/product", product),
        ("purchases/purchase", purchase),
        ("products/backfillrun", run),
    ]:
        app = model.split("/")[0]
        urls += [
            f"/admin/{app}/",
            f"/admin/{model}/",
            f"/admin/{model}/add/",
            f"/admin/{model}/{obj.pk}/change/",
            f"/admin/{model}/{obj.pk}/delete/",
            f"/admin/{model}/{obj.pk}/history/",
        ]
    return urls


def test_customers_and_visitors_reach_no_admin_page(client, customer, staff):
    urls = admin_urls(staff)

    for signed_in in [False, True]:
        if signed_in:
            client.force_login(customer)
        for url in urls:
            for method in [client.get, client.post]:
                response = method(url)
                assert response.status_code == 302, (signed_in, method, url)
                assert response["Location"].startswith("/admin/login/"), url
    # The backfill page did not run anything for them.
    from products.models import BackfillRun

    assert BackfillRun.objects.count() == 1


def test_staff_reach_every_admin_page(client, staff):
    urls = admin_urls(staff)
    client.force_login(staff)

    for url in urls:
        response = client.get(url)
        if "/backfillrun/add/" in url or ("/backfillrun/" in url and "/delete/" in url):
            assert response.status_code == 403, url  # run records are never edited
        else:
            assert response.status_code == 200, url


# --- A customer's purchases on their page ------------------------------------------------


def test_user_page_shows_the_latest_purchases_read_only(client, staff, customer):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from products.models import Product
    from purchases.models import Purchase
    from purchases.services import create_purchase

    product = Product.objects.create(sku="S-1", name="Spoon", price=Decimal("1.00"))
    start = timezone.now() - timedelta(days=30)
    for n in range(25):
        purchase = create_purchase(user=customer, product=product, quantity=n + 1)
        Purchase.objects.filter(pk=purchase.pk).update(created_at=start + timedelta(days=n))
    client.force_login(staff)

    response = client.get(reverse("admin:users_user_change", args=[customer.pk]))

    page = response.content.decode()
    (inline,) = response.context["inline_admin_formsets"]
    shown = [form.instance.quantity for form in inline.formset.forms]
    assert shown == list(range(25, 5, -1))  # the 20 newest, newest first
    assert 'name="purchases-0-quantity"' not in page  # read-only
    assert f"/admin/purchases/purchase/?customer={customer.pk}" in page
    assert "See all 25 purchases of this customer" in page


def test_saving_a_user_leaves_their_purchases_alone(client, staff, customer):
    from decimal import Decimal

    from products.models import Product
    from purchases.services import create_purchase

    product = Product.objects.create(sku="S-1", name="Spoon", price=Decimal("1.00"))
    for _ in range(21):  # more than the page shows
        create_purchase(user=customer, product=product, quantity=3)
    client.force_login(staff)
    url = reverse("admin:users_user_change", args=[customer.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and value is not None and name not in ("groups", "user_permissions")
    }
    data.update(
        first_name="Alicia",
        date_joined_0="2024-01-01",
        date_joined_1="00:00:00",
        **{
            "purchases-TOTAL_FORMS": "20",
            "purchases-INITIAL_FORMS": "20",
            "purchases-MIN_NUM_FORMS": "0",
            "purchases-MAX_NUM_FORMS": "1000",
        },
    )
    data.pop("password", None)
    data.pop("last_login", None)
    data.pop("date_joined", None)

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer.refresh_from_db()
    assert customer.first_name == "Alicia"
    assert set(customer.purchases.values_list("quantity", flat=True)) == {3}
    assert customer.purchases.count() == 21


def test_user_list_query_count_does_not_grow_with_the_page(
    client, staff, make_user, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff)
    for _ in range(4):
        make_user()
    with CaptureQueriesContext(connection) as few:
        client.get("/admin/users/user/")
    for _ in range(45):
        make_user()

    with django_assert_max_num_queries(len(few)):
        response = client.get("/admin/users/user/")
    assert len(response.context["cl"].result_list) == 50


def test_user_filters(client, staff, make_user):
    make_user(email="f@example.com", gender="female")
    make_user(email="m@example.com", gender="male")
    client.force_login(staff)

    response = client.get("/admin/users/user/?gender=female&is_staff__exact=0")

    assert [u.email for u in response.context["cl"].result_list] == ["f@example.com"]
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert {"staff status", "gender", "date joined"} <= set(filters)


def test_a_password_set_in_the_admin_revokes_the_users_tokens(admin_client, customer):
    AuthToken.objects.create(user=customer)

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[customer.pk]),
        {"password1": "a-new-and-long-passphrase-42", "password2": "a-new-and-long-passphrase-42"},
    )

    assert response.status_code == 302
    assert not AuthToken.objects.filter(user=customer).exists()


def test_disabling_a_password_in_the_admin_revokes_the_users_tokens(admin_client, customer):
    AuthToken.objects.create(user=customer)

    response = admin_client.post(
        reverse("admin:auth_user_password_change", args=[customer.pk]),
        {"usable_password": "false", "unset-password": "1"},
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert not customer.has_usable_password()
    assert not AuthToken.objects.filter(user=customer).exists()


def test_a_password_changed_on_the_admins_own_page_revokes_the_staffs_tokens(client, staff):
    AuthToken.objects.create(user=staff)
    client.force_login(staff)
    new = "a-new-and-long-passphrase-42"

    response = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(new)
    assert not AuthToken.objects.filter(user=staff).exists()
    assert client.get(reverse("admin:index")).status_code == 200  # this session stays


def test_a_wrong_old_password_on_the_admins_own_page_changes_nothing(client, staff):
    AuthToken.objects.create(user=staff)
    client.force_login(staff)
    new = "a-new-and-long-passphrase-42"

    response = client.post(
        reverse("admin:password_change"),
        {"old_password": "not-it", "new_password1": new, "new_password2": new},
    )

    assert response.status_code == 200
    assert "old_password" in response.context["form"].errors
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)
    assert AuthToken.objects.filter(user=staff).exists()


@pytest.mark.parametrize("own", [False, True])
def test_a_password_set_in_the_admin_keeps_what_changed_meanwhile(rf, make_user, staff, own):
    """The form holds the user as loaded; a loss of staff status and a new email committed
    since stay: only the password is written."""
    make_user(is_staff=True)  # another active staff member
    loaded = type(staff).objects.get(pk=staff.pk)
    services.update_user(staff, email="renamed@example.com", is_staff=False)
    new = "a-new-and-long-passphrase-42"
    if own:
        request = rf.post("/admin/password_change/")
        request.user = loaded
        data = {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
        form = AdminOwnPasswordChangeForm(loaded, data, request=request)
    else:
        form = AdminUserPasswordForm(loaded, {"password1": new, "password2": new})
    assert form.is_valid(), form.errors
    form.save()

    staff.refresh_from_db()
    assert (staff.email, staff.is_staff) == ("renamed@example.com", False)
    assert staff.check_password(new)


# --- API tokens, and pages kept for superusers ------------------------------------------


def test_a_page_kept_for_superusers_is_an_admin_page_for_plain_staff(client, staff, make_user):
    boss = make_user(email="boss@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)

    response = client.get(reverse("admin:users_user_delete", args=[boss.pk]))

    page = response.content.decode()
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert "You cannot open this page" in page and "Back to the back office" in page
    assert "Shop back office" in page  # the admin's own header, not a bare JSON answer


def test_the_api_answers_403_in_json_still(customer_client):
    response = customer_client.get("/users/")

    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}


def test_a_token_issued_in_the_admin_expires_after_30_days_by_default(admin_client, customer):
    before = timezone.now()

    response = admin_client.post(reverse("admin:knox_authtoken_add"), {"user": customer.pk})

    assert response.status_code == 302
    token = AuthToken.objects.get(user=customer)
    assert before + timedelta(days=30) <= token.expiry <= timezone.now() + timedelta(days=30)


@pytest.mark.parametrize(("days", "ok"), [("1", True), ("366", True), ("0", False), ("367", False)])
def test_a_token_issued_in_the_admin_lives_the_days_asked(admin_client, customer, days, ok):
    response = admin_client.post(
        reverse("admin:knox_authtoken_add"), {"user": customer.pk, "valid_for_days": days}
    )

    if ok:
        token = AuthToken.objects.get(user=customer)
        assert token.expiry - token.created == pytest.approx(
            timedelta(days=int(days)), abs=timedelta(seconds=5)
        )
        text = [str(m) for m in response.wsgi_request._messages]
        assert any("Copy it now: it is never shown again. TOKEN " in m for m in text)
    else:
        assert response.status_code == 200
        assert "valid_for_days" in response.context["adminform"].form.errors
        assert not AuthToken.objects.exists()


def test_the_token_pages_say_api_token(admin_client):
    home = admin_client.get(reverse("admin:index")).content.decode()
    listed = admin_client.get(reverse("admin:knox_authtoken_changelist")).content.decode()
    form = admin_client.get(reverse("admin:knox_authtoken_add")).content.decode()

    assert "Auth tokens</a>" not in home and "API tokens</a>" in home
    assert "<h1>API tokens</h1>" in listed
    assert "<h1>Issue an API token</h1>" in form


def test_the_token_form_picks_the_user_by_name_or_email(admin_client):
    page = admin_client.get(reverse("admin:knox_authtoken_add")).content.decode()

    assert "admin-autocomplete" in page  # a search box, not a bare id
    assert 'id="id_valid_for_days"' in page and 'value="30"' in page
    assert "add_id_user" not in page and "change_id_user" not in page


def test_the_token_list_names_tokens_by_their_start_never_the_digest(admin_client, customer):
    token, _ = AuthToken.objects.create(user=customer)

    page = admin_client.get(reverse("admin:knox_authtoken_changelist")).content.decode()

    assert f"{token.token_key}…" in page
    assert 'class="field-digest"' not in page  # 128 characters no one reads


# --- The token page for every staff member, whatever their role ------------------------


@pytest.fixture
def catalogue(make_user):
    return in_role(make_user(email="cat@example.com", is_staff=True), "Catalogue")


@pytest.mark.parametrize("role", [None, "Catalogue", "Analyst"])
def test_staff_without_token_permissions_issue_their_own_token_for_30_days(client, make_user, role):
    user = make_user(is_staff=True)
    if role:
        in_role(user, role)
    client.force_login(user)
    before = timezone.now()

    assert client.get(reverse("admin:knox_authtoken_changelist")).status_code == 200
    form = client.get(reverse("admin:knox_authtoken_add"))
    assert form.status_code == 200 and form["Content-Type"].startswith("text/html")
    assert "user" not in form.context["adminform"].form.fields  # their own: no picker
    response = client.post(reverse("admin:knox_authtoken_add"), {})

    assert response.status_code == 302
    token = AuthToken.objects.get(user=user)
    assert before + timedelta(days=30) <= token.expiry <= timezone.now() + timedelta(days=30)


def test_staff_see_and_revoke_only_their_own_tokens_without_token_permissions(
    client, catalogue, customer
):
    own, _ = AuthToken.objects.create(user=catalogue)
    theirs, _ = AuthToken.objects.create(user=customer)
    client.force_login(catalogue)

    listed = client.get(reverse("admin:knox_authtoken_changelist")).context["cl"].result_list
    assert list(listed) == [own]
    delete_theirs = reverse("admin:knox_authtoken_delete", args=[theirs.pk])
    assert client.post(delete_theirs, {"post": "yes"}).status_code in (302, 403)
    assert AuthToken.objects.filter(pk=theirs.pk).exists()
    delete_own = reverse("admin:knox_authtoken_delete", args=[own.pk])
    assert client.post(delete_own, {"post": "yes"}).status_code == 302
    assert not AuthToken.objects.filter(pk=own.pk).exists()


def test_support_issues_a_customers_token_but_not_another_staff_members(
    client, make_user, customer, catalogue
):
    client.force_login(in_role(make_user(is_staff=True), "Support"))
    add = reverse("admin:knox_authtoken_add")

    client.post(add, {"user": customer.pk})
    client.post(add, {"user": catalogue.pk})

    assert AuthToken.objects.filter(user=customer).exists()
    assert not AuthToken.objects.filter(user=catalogue).exists()
