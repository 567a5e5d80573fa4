"""`/products/data/backfill` (GET the configured CSV, POST an upload) and the run history."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from products.models import BackfillRun, Product
from products.tests.conftest import lock_held_elsewhere

pytestmark = pytest.mark.django_db

CSV = b"sku,name,description,category,price\nA-1,Anvil,Heavy,Tools,10.00\nB-1,Bucket,,Garden,2\n"


def upload(content=CSV, name="products.csv", **fields):
    return {"file": SimpleUploadedFile(name, content, content_type="text/csv"), **fields}


@pytest.fixture
def configured_csv(settings, csv_file):
    settings.SHOP_PRODUCTS_CSV = csv_file(CSV)
    return settings.SHOP_PRODUCTS_CSV


class TestAccess:
    @pytest.mark.parametrize(
        "path",
        [
            "/products/data/backfill",
            "/products/data/backfill/",
            "/products/data/backfill/runs",
            "/products/data/backfill/runs/1/",
        ],
    )
    def test_staff_only(self, anon_client, customer_client, path, configured_csv):
        assert anon_client.get(path).status_code == 401
        assert customer_client.get(path).status_code == 403
        assert anon_client.post(path).status_code == 401
        assert customer_client.post(path, upload(), format="multipart").status_code == 403
        assert not BackfillRun.objects.exists()


class TestBackfill:
    @pytest.mark.parametrize("path", ["/products/data/backfill", "/products/data/backfill/"])
    def test_get_backfills_the_configured_csv(self, staff_client, staff, configured_csv, path):
        response = staff_client.get(path)
        assert response.status_code == 200
        assert [item["sku"] for item in response.json()] == ["A-1", "B-1"]
        assert response.json()[1]["price"] == "2.00"
        assert response["X-Total-Count"] == "2"
        run = BackfillRun.objects.get()
        assert response["X-Backfill-Run"] == str(run.pk)
        assert type(response["X-Backfill-Status"]) is str  # a real server refuses an enum
        assert f'/products/data/backfill/runs/{run.pk}>; rel="backfill-run"' in response["Link"]
        assert 'rel="first"' in response["Link"]
        assert (run.origin, run.started_by, run.source) == ("api", staff, str(configured_csv))
        assert (run.status, run.created) == ("succeeded", 2)

    @pytest.mark.parametrize("path", ["/products/data/backfill", "/products/data/backfill/"])
    def test_post_queues_the_upload_and_answers_202_with_its_run(self, staff_client, path):
        response = staff_client.post(path, upload(), format="multipart")

        assert response.status_code == 202, response.json()
        run = BackfillRun.objects.get()
        body = response.json()
        assert response["Location"] == f"http://testserver/products/data/backfill/runs/{run.pk}"
        assert body["id"] == run.pk and body["source"] == "upload: products.csv"
        # No broker in the unit tests: the job ran in the request (Celery's eager mode).
        assert (body["status"], body["progress"], body["rows"], body["created"]) == (
            "succeeded",
            1.0,
            2,
            2,
        )
        assert sorted(Product.objects.values_list("sku", flat=True)) == ["A-1", "B-1"]

    def test_the_stored_upload_is_deleted_when_its_run_ends(self, staff_client, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path / "media"

        staff_client.post("/products/data/backfill", upload(), format="multipart")

        uploads = settings.MEDIA_ROOT / "backfill-uploads"
        assert uploads.exists()  # it was stored there...
        assert [path for path in uploads.rglob("*") if path.is_file()] == []  # ...and is gone
        assert BackfillRun.objects.get().upload == ""

    def test_rejected_rows_still_import_the_valid_ones(self, staff_client):
        content = b"sku,name,price\nA-1,Anvil,1\nB-1,Bad,-1\n"
        response = staff_client.post("/products/data/backfill", upload(content))
        assert response.status_code == 202
        assert (response.json()["rejected"], response.json()["status"]) == (1, "partial")
        assert response.json()["rejected_lines"] == [
            {"line": 3, "reason": "negative price -1 (must be 0 or more)"}
        ]
        assert Product.objects.count() == 1

    def test_strict_and_dry_run_fields(self, staff_client):
        content = b"sku,name,price\nA-1,Anvil,1\nB-1,Bad,-1\n"
        response = staff_client.post("/products/data/backfill", upload(content, strict="true"))
        assert response.json()["status"] == "aborted"
        response = staff_client.post("/products/data/backfill", upload(CSV, dry_run="true"))
        assert response.status_code == 202
        assert not Product.objects.exists()
        assert BackfillRun.objects.first().created == 2

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (b"", "empty"),
            (b"\x00\x01\x02binary", "binary"),
            (b"sku,name\nA,b\n", "missing required column price"),
            ("sku,name,price\nA,Caf\u00e9,1\n".encode("latin-1"), "not UTF-8"),
        ],
    )
    def test_an_unusable_upload_is_400(self, staff_client, content, message):
        response = staff_client.post("/products/data/backfill", upload(content))
        assert response.status_code == 400
        body = response.json()
        assert message in body["detail"]
        assert isinstance(body["run"], int)
        assert BackfillRun.objects.get(pk=body["run"]).status == "failed"
        assert not Product.objects.exists()

    def test_no_file_is_400(self, staff_client):
        response = staff_client.post("/products/data/backfill", {}, format="multipart")
        assert response.status_code == 400 and "file" in response.json()

    def test_a_missing_configured_csv_is_400(self, staff_client, settings, tmp_path):
        settings.SHOP_PRODUCTS_CSV = tmp_path / "gone.csv"
        response = staff_client.get("/products/data/backfill")
        assert response.status_code == 400 and "no such file" in response.json()["detail"]

    def test_past_the_size_limit_is_413(self, staff_client, settings):
        settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES = 50
        response = staff_client.post("/products/data/backfill", upload())
        assert response.status_code == 413
        assert "upload limit of 50 bytes" in response.json()["detail"]
        assert not BackfillRun.objects.exists()

    def test_announced_too_large_body_is_refused_before_reading(self, staff_client, settings):
        settings.SHOP_BACKFILL_MAX_UPLOAD_BYTES = 10
        response = staff_client.post(
            "/products/data/backfill",
            data=b"x" * 70_000,
            content_type="multipart/form-data; boundary=BoUnDaRy",
        )
        assert response.status_code == 413

    def test_409_while_another_run_holds_the_lock(self, staff_client, configured_csv):
        with lock_held_elsewhere():
            response = staff_client.get("/products/data/backfill")
            assert response.status_code == 409
            assert "another backfill is running" in response.json()["detail"].lower()
            response = staff_client.post("/products/data/backfill", upload())
            assert response.status_code == 409
        assert not Product.objects.exists()
        assert staff_client.get("/products/data/backfill").status_code == 200


class TestRunHistory:
    def test_list_and_detail(self, staff_client, configured_csv):
        staff_client.get("/products/data/backfill")
        staff_client.post(
            "/products/data/backfill", upload(b"sku,name,price,x\nA-1,Anvil,-1,\nA-2,Axe,3,\n")
        )
        response = staff_client.get("/products/data/backfill/runs")
        assert response.status_code == 200
        runs = response.json()
        assert [run["origin"] for run in runs] == ["api", "api"]
        assert runs[0]["id"] > runs[1]["id"]  # newest first
        assert response["X-Total-Count"] == "2"
        assert "rejected_lines" not in runs[0]
        assert runs[0]["started_by"] == "staff@example.com"
        assert runs[0]["elapsed"] >= 0
        for path in (
            f"/products/data/backfill/runs/{runs[0]['id']}",
            f"/products/data/backfill/runs/{runs[0]['id']}/",
        ):
            detail = staff_client.get(path)
            assert detail.status_code == 200
            body = detail.json()
            assert body["rejected_lines"] == [
                {"line": 2, "reason": "negative price -1 (must be 0 or more)"}
            ]
            assert body["warnings"] == ["ignored unknown column: x"]
            assert (body["status"], body["created"], body["rejected"]) == ("partial", 1, 1)

    @pytest.mark.parametrize("pk", ["abc", "99999"])
    def test_unknown_run_is_404(self, staff_client, pk):
        assert staff_client.get(f"/products/data/backfill/runs/{pk}").status_code == 404

    def test_runs_are_read_only(self, staff_client, configured_csv):
        staff_client.get("/products/data/backfill")
        run = BackfillRun.objects.get()
        assert staff_client.post("/products/data/backfill/runs", {}).status_code == 405
        assert staff_client.delete(f"/products/data/backfill/runs/{run.pk}").status_code == 405


def test_head_does_not_run_a_backfill(staff_client, configured_csv):
    response = staff_client.head("/products/data/backfill")

    assert response.status_code == 405
    assert not BackfillRun.objects.exists()


@pytest.mark.parametrize("page", ["abc", "0", "-1", "1.5"])
def test_an_impossible_page_is_400_before_anything_is_imported(staff_client, page, configured_csv):
    response = staff_client.get(f"/products/data/backfill?page={page}")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"Invalid page '{page}'")
    assert not BackfillRun.objects.exists()
    assert not Product.objects.exists()


def test_a_page_past_the_end_still_names_the_run_that_imported(staff_client, configured_csv):
    response = staff_client.get("/products/data/backfill?page=99")

    run = BackfillRun.objects.get()
    assert response.status_code == 404
    assert response.json()["run"] == run.pk
    assert response["X-Backfill-Run"] == str(run.pk)
    assert response["X-Backfill-Status"] == "succeeded"
    assert Product.objects.count() == 2


def test_the_get_answer_is_paginated_like_any_list(staff_client, settings, csv_file):
    rows = "".join(f"P-{n},Pen,1\n" for n in range(150))
    settings.SHOP_PRODUCTS_CSV = csv_file("sku,name,price\n" + rows)

    response = staff_client.get("/products/data/backfill?page_size=100")

    assert response.status_code == 200
    assert len(response.json()) == 100
    assert response["X-Total-Count"] == "150"
    assert 'rel="next"' in response["Link"] and 'rel="backfill-run"' in response["Link"]


def test_page_last_answers_the_last_page_of_the_catalogue(staff_client, configured_csv):
    response = staff_client.get("/products/data/backfill?page=last&page_size=1")

    assert response.status_code == 200
    assert [item["sku"] for item in response.json()] == ["B-1"]


class TestCrossSite:
    """`GET /products/data/backfill` writes: a session cookie alone must not start it."""

    def test_a_staff_session_cookie_alone_cannot_start_the_get_backfill(
        self, client, staff, configured_csv
    ):
        client.force_login(staff)

        response = client.get("/products/data/backfill")

        assert response.status_code == 401
        assert not BackfillRun.objects.exists()

    def test_the_api_token_still_starts_it(self, staff_client, configured_csv):
        assert staff_client.get("/products/data/backfill").status_code == 200
        assert BackfillRun.objects.count() == 1

    def test_an_upload_with_a_session_needs_the_csrf_token(self, staff, configured_csv):
        from rest_framework.test import APIClient

        browser = APIClient(enforce_csrf_checks=True)
        browser.force_login(staff)

        response = browser.post("/products/data/backfill", upload(), format="multipart")

        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]
        assert not BackfillRun.objects.exists()


@pytest.mark.django_db
def test_a_queued_backfill_run_records_the_request_that_queued_it(staff_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    response = staff_client.post(
        "/products/data/backfill", upload(), format="multipart", HTTP_X_REQUEST_ID="upload-req-1"
    )

    assert response.status_code == 202, response.content
    assert response["X-Request-ID"] == "upload-req-1"
    assert BackfillRun.objects.get(pk=response.json()["id"]).request_id == "upload-req-1"
