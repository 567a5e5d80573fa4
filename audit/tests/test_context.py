"""Each door names who acts and through what: the API, the admin, commands, tasks, imports."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from audit.context import Via, acting, current
from audit.models import AuditEvent
from products.backfill.runs import queue_run
from products.models import BackfillRun, Product
from products.tasks import run_backfill_job, sweep_stale_backfill_runs
from shop import requestid

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return Product.objects.create(sku="D-1", name="Ring", category="rings", price="10.00")


def test_an_api_write_is_the_signed_in_users_through_their_token(staff_client, staff, product):
    response = staff_client.patch(
        f"/products/{product.pk}", {"price": "12.50"}, format="json", HTTP_X_REQUEST_ID="req-api"
    )

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="updated")
    assert (event.actor_id, event.actor, event.via) == (staff.pk, staff.email, "api")
    assert event.via_detail == f"token {staff.auth_token_set.get().token_key}"
    assert event.request_id == "req-api"
    assert event.changes == {"price": ["10.00", "12.50"]}


def test_a_sign_up_is_anonymous(anon_client):
    response = anon_client.post(
        "/users",
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "gender": "f"},
        format="json",
    )

    assert response.status_code == 201
    event = AuditEvent.objects.get(action="created")
    assert (event.actor_id, event.actor, event.via, event.via_detail) == (
        None,
        "anonymous",
        "api",
        "",
    )


def test_an_admin_write_is_the_staff_members_through_their_session(client, staff, product):
    client.force_login(staff)
    data = {"sku": "D-1", "name": "Ring", "category": "rings", "price": "11.00"}
    data.update({"description": "", "metal_type": "", "stone_type": "", "customizable": ""})
    data["active"] = "on"

    response = client.post(
        reverse("admin:products_product_change", args=[product.pk]),
        data,
        HTTP_X_REQUEST_ID="req-admin",
    )

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="updated")
    assert (event.actor_id, event.via, event.via_detail) == (staff.pk, "admin", "session")
    assert event.request_id == "req-admin"
    assert event.changes == {"price": ["10.00", "11.00"]}


def test_a_command_acts_under_its_own_name(staff):
    call_command("issue_token", staff.email, stdout=StringIO(), stderr=StringIO())

    event = AuditEvent.objects.get(action="token_issued")
    assert (event.actor_id, event.actor, event.via, event.via_detail) == (
        None,
        "command issue_token",
        "command",
        "issue_token",
    )
    assert event.object_id == str(staff.pk)


def test_an_import_by_command_is_the_commands_through_its_run(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text("sku,name,price\nA-1,Anvil,10.00\n")

    call_command("backfill", str(path), stdout=StringIO(), stderr=StringIO())

    run = BackfillRun.objects.get()
    events = {event.action: event for event in AuditEvent.objects.all()}
    assert set(events) == {"created", "import_run"}
    for event in events.values():
        assert (event.actor, event.via, event.via_detail) == (
            "command backfill",
            "import",
            f"run {run.pk}",
        )


def test_an_uploaded_import_is_the_uploaders_under_the_uploads_request(staff_client, staff):
    upload = SimpleUploadedFile("p.csv", b"sku,name,price\nA-1,Anvil,10.00\n")

    response = staff_client.post(
        "/products/data/backfill", {"file": upload}, format="multipart", HTTP_X_REQUEST_ID="up-1"
    )

    assert response.status_code in (200, 201, 202)
    created = AuditEvent.objects.get(action="created")
    assert (created.actor_id, created.via, created.request_id) == (staff.pk, "import", "up-1")
    assert created.object_id == str(Product.objects.get(sku="A-1").pk)


def test_a_task_acts_under_its_own_name_and_the_queuing_requests_id():
    run = queue_run(source="upload: gone.csv", upload="backfill-uploads/missing.csv")
    token = requestid.activate("req-task")
    try:
        run_backfill_job.delay(run.pk)
    finally:
        requestid.deactivate(token)

    event = AuditEvent.objects.get(action="import_run")
    assert (event.actor, event.via, event.request_id) == (
        "task products.run_backfill",
        "task",
        "req-task",
    )
    assert event.changes == {"status": ["running", "failed"]}


def test_a_door_ends_with_its_block():
    with acting("command backfill", Via.COMMAND):
        assert current().actor == "command backfill"

    assert current().via == "system"


def test_an_eager_task_inside_a_request_leaves_the_request_door_after_it(staff):
    with acting(staff, Via.API):
        run = queue_run(source="upload: gone.csv", upload="backfill-uploads/missing.csv")
        run_backfill_job.delay(run.pk)
        assert current().actor_id == staff.pk


def test_a_periodic_task_acts_under_its_own_name():
    run = queue_run(source="upload: lost.csv")
    BackfillRun.objects.filter(pk=run.pk).update(queued_at=timezone.now() - timedelta(days=2))

    sweep_stale_backfill_runs.delay()

    event = AuditEvent.objects.get(action="import_run", object_id=str(run.pk))
    assert (event.actor, event.via) == ("task products.sweep_stale_backfill_runs", "task")
    assert event.changes == {"status": ["queued", "failed"]}
