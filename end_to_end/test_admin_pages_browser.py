"""Every admin page, opened in a real browser as staff use it, checked for what hurts to read.

A superuser signs in and opens each page (the home page, each app's page, each list, each
add and change form, the sales page, the import page, a run's page, a delete confirmation,
the API token pages; before them the sign-in and second-factor pages) at 1280x800, and
the home and sign-in pages at 390x844. A page fails on: being
wider than the window, a link or button whose text wraps inside its words (a few letters a
line), a column of a table cut off at the window's edge, a console error, a failed request
or an answer of 400 or more. Plain staff also open the token pages, which are theirs to use.

Screenshots of every page go to test-artifacts/screenshots/admin-pages/ (emptied first), for
a person to look at; they are not compared pixel by pixel.
"""

import shutil
from datetime import timedelta
from decimal import Decimal
from http import HTTPStatus

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from conftest import ARTIFACTS, PASSWORD
from products.models import BackfillRun, Product
from products.services import update_product
from purchases.models import Purchase
from purchases.refunds import refund_purchase
from purchases.services import create_purchase

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = ARTIFACTS / "screenshots" / "admin-pages"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# What the page looks like to a reader, measured in the page itself: each problem is a line.
LAYOUT_PROBLEMS = r"""() => {
  const problems = [];
  const width = window.innerWidth;
  const root = document.documentElement;
  if (root.scrollWidth > width + 1) {
    problems.push(`the page is ${root.scrollWidth}px wide in a ${width}px window`);
  }
  // Shown, and not one of the admin's visually hidden labels (a 1px box).
  const visible = (el) => {
    const rect = el.getBoundingClientRect();
    return el.offsetParent !== null && rect.width > 2 && rect.height > 2
      && !el.closest(".visually-hidden");
  };
  // The lines a text takes: the distinct tops of its text's boxes.
  const lineCount = (el) => {
    const tops = new Set();
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(node);
      if (!node.textContent.trim()) continue;
      for (const rect of range.getClientRects()) {
        if (rect.width > 0 && rect.height > 0) tops.add(Math.round(rect.top));
      }
    }
    return tops.size;
  };
  // Text wrapped inside its words: more lines than words.
  for (const el of document.querySelectorAll("a, button, .button, th, label")) {
    if (!visible(el) || el.querySelector("a, .text")) continue;  // its link is checked
    const text = el.innerText.trim();
    if (text.length < 4) continue;
    const lines = lineCount(el);
    if (lines > text.split(/\s+/).length) {
      problems.push(`"${text.slice(0, 40)}" wraps inside its words (${lines} lines)`);
    }
  }
  // A button too narrow for its words.
  for (const el of document.querySelectorAll("input[type=submit], input[type=button]")) {
    if (visible(el) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`button "${el.value}" is cut`);
    }
  }
  // Table columns past the window, or past a scrolling box they are meant to fill.
  for (const th of document.querySelectorAll("table th")) {
    if (!visible(th)) continue;
    const rect = th.getBoundingClientRect();
    if (rect.right > width + 1 || rect.left < -1) {
      problems.push(`column "${th.innerText.trim().slice(0, 30)}" is cut off at the window's edge`);
      continue;
    }
    for (let box = th.parentElement; box && box !== document.body; box = box.parentElement) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === "auto" || overflow === "scroll" || overflow === "hidden") {
        const shown = box.getBoundingClientRect().left + box.clientWidth;
        if (rect.right > shown + 1) {
          problems.push(`column "${th.innerText.trim().slice(0, 30)}" is cut off in its box`);
        }
        break;
      }
    }
  }
  return [...new Set(problems)];
}"""


@pytest.fixture
def shop_data(make_user, staff):
    """A small but complete shop: customers (two of the same name), products, purchases, a
    finished import with rejected lines, a queued one, and an API token."""
    staff.is_superuser = True
    staff.save(update_fields=["is_superuser"])
    ann = make_user(email="ann.smith@example.com", first_name="Ann", last_name="Smith")
    other_ann = make_user(email="ann.smith@example.org", first_name="Ann", last_name="Smith")
    make_user(
        email="bartholomew.featherstonehaugh@example.com",
        first_name="Bartholomew",
        last_name="Featherstonehaugh-Wolfeschlegelsteinhausen",
    )
    products = [
        Product.objects.create(
            sku=f"SKU-{n:04}",
            name=f"Sterling silver pendant with a long descriptive name {n}",
            category="Jewellery",
            price=Decimal("1234.50") * n,
        )
        for n in range(1, 4)
    ]
    for n, product in enumerate(products, start=1):
        create_purchase(user=ann, product=product, quantity=n * 1000)
        create_purchase(user=other_ann, product=product, quantity=n)
    Purchase.objects.update(created_at=timezone.now() - timedelta(days=1))
    # Refunds on the purchase and the customer pages; a price change on the product's History.
    refund_purchase(
        Purchase.objects.order_by("pk").first(),
        by=staff,
        quantity=2,
        reason="damaged",
        note="Two arrived with a broken clasp; sent back by courier on the customer's request.",
    )
    update_product(products[0], price=Decimal("1299.00"))
    finished = BackfillRun.objects.create(
        source="upload: spring-catalogue.csv",
        origin=BackfillRun.Origin.ADMIN,
        started_by=staff,
        status=BackfillRun.Status.PARTIAL,
        started_at=timezone.now() - timedelta(seconds=5),
        finished_at=timezone.now(),
        progress=1.0,
        rows=1_360_000,
        created=1_359_000,
        rejected=1_000,
        rejected_lines=[{"line": n, "reason": "price: not a number"} for n in range(2, 1002)],
        warnings=["The file has 3 duplicate SKUs; the last line of each wins."],
    )
    queued = BackfillRun.objects.create(source="upload: later.csv", started_by=staff)
    token, _ = AuthToken.objects.create(user=ann, expiry=timedelta(days=30))
    superuser_token, _ = AuthToken.objects.create(user=staff)
    plain_staff = make_user(  # staff with no role yet
        email="pat@example.com", first_name="Pat", last_name="Plain", is_staff=True
    )
    return {
        "plain_staff": plain_staff,
        "superuser_token": superuser_token,
        "staff": staff,
        "customer": ann,
        "product": products[0],
        "run": finished,
        "queued": queued,
        "token": token,
    }


# Pages whose every part fits a phone's width, checked there too (the sign-in and home pages
# above). Lists and tables wider than a phone (the changelists, a customer's purchases) are
# read at desktop width: on a phone they run past the screen's edge.
ON_A_PHONE = {"purchase-refund", "purchases-purchase-add", "products-product-add", "sales"}


def admin_pages(data):
    """Every page of the admin a staff member can open, as (name, path)."""
    pages = [("home", reverse("admin:index"))]
    app_labels = sorted({model._meta.app_label for model in admin.site._registry})
    pages += [(f"app-{label}", reverse("admin:app_list", args=[label])) for label in app_labels]
    for model, model_admin in sorted(
        admin.site._registry.items(), key=lambda item: item[0]._meta.label
    ):
        opts = model._meta
        name = f"{opts.app_label}-{opts.model_name}"
        pages.append(
            (f"{name}-list", reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        )
        if model_admin.has_add_permission(SignedIn(data["staff"])):
            pages.append((f"{name}-add", reverse(f"admin:{opts.app_label}_{opts.model_name}_add")))
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            pages.append(
                (
                    f"{name}-change",
                    reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]),
                )
            )
    customer = data["customer"]
    pages += [
        ("customer-change", reverse("admin:users_user_change", args=[customer.pk])),
        ("customer-delete", reverse("admin:users_user_delete", args=[customer.pk])),
        ("customer-password", reverse("admin:auth_user_password_change", args=[customer.pk])),
        ("product-delete", reverse("admin:products_product_delete", args=[data["product"].pk])),
        (
            "purchase-history",
            reverse("admin:purchases_purchase_history", args=[Purchase.objects.first().pk]),
        ),
        (
            "purchase-refund",
            reverse("admin:purchases_purchase_refund", args=[Purchase.objects.first().pk]),
        ),
        ("product-history", reverse("admin:products_product_history", args=[data["product"].pk])),
        ("sales", reverse("admin:purchases_purchase_sales")),
        ("sales-all-time", reverse("admin:purchases_purchase_sales") + "?period=all"),
        ("import", reverse("admin:products_product_backfill")),
        (
            "import-run-finished",
            reverse("admin:products_backfillrun_change", args=[data["run"].pk]),
        ),
        (
            "import-run-queued",
            reverse("admin:products_backfillrun_change", args=[data["queued"].pk]),
        ),
        ("own-password", reverse("admin:password_change")),
    ]
    return pages


class SignedIn:
    """What an admin's permission checks read of a request: its user."""

    def __init__(self, user):
        self.user = user


def failed(request, failures):
    # A request the browser itself abandoned as it left the page (a run page's poll) is
    # no failure of the page.
    if request.failure != "net::ERR_ABORTED":
        failures.append(f"request failed: {request.url} ({request.failure})")


def watch(page):
    """Collects the page's console errors, uncaught exceptions and failed requests."""
    failures = []
    page.on("console", lambda msg: msg.type == "error" and failures.append(f"console: {msg.text}"))
    page.on("pageerror", lambda error: failures.append(f"script error: {error}"))
    page.on("requestfailed", lambda request: failed(request, failures))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and failures.append(f"{response.status} for {response.url}")
        ),
    )
    return failures


def open_and_check(page, failures, name, path, status=200):
    failures.clear()
    response = page.goto(path)
    page.wait_for_load_state("load")
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    problems = [*failures, *page.evaluate(LAYOUT_PROBLEMS)]
    if status != 200:  # a page that answers as it should with an error status
        expected = {
            f"{status} for {response.url}",
            f"console: Failed to load resource: the server responded with a status of {status} "
            f"({HTTPStatus(status).phrase})",
        }
        problems = [problem for problem in problems if problem not in expected]
    if response.status != status:
        problems.append(f"answered {response.status}, not {status}")
    if not page.locator("link[rel=icon]").count():
        problems.append("no icon: the browser asks for /favicon.ico")
    return [f"{name} ({path}): {problem}" for problem in problems]


def test_browser_every_admin_page_reads_well_at_desktop_and_phone_width(
    browser_page, staff, shop_data
):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    page = browser_page
    failures = watch(page)
    problems = []

    # Before the admin: the sign-in page (desktop and phone), and the second-factor page of a
    # staff member who has no authenticator app yet (enrolment: its QR code and secret).
    login = reverse("admin:login")
    page.set_viewport_size(PHONE)
    problems += open_and_check(page, failures, "phone-sign-in", login)
    page.set_viewport_size(DESKTOP)
    problems += open_and_check(page, failures, "sign-in", login)
    page.fill("#id_username", shop_data["plain_staff"].email)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#id_code")
    problems += open_and_check(page, failures, "second-factor-enrol", page.url)
    page.context.clear_cookies()

    page.sign_in(staff)
    for name, path in admin_pages(shop_data):
        problems += open_and_check(page, failures, name, path)

    page.set_viewport_size(PHONE)
    problems += open_and_check(page, failures, "phone-home", reverse("admin:index"))
    for name, path in admin_pages(shop_data):
        if name in ON_A_PHONE:
            problems += open_and_check(page, failures, f"phone-{name}", path)
    assert page.request.get("/favicon.ico").status == 200

    # Staff with no role: the token pages are theirs too; a superuser's token is not theirs to
    # see: its page is as if it did not exist (the admin's home, which says so).
    page.set_viewport_size(DESKTOP)
    page.context.clear_cookies()
    page.sign_in(shop_data["plain_staff"])
    boss_token = shop_data["superuser_token"]
    for name, path in [
        ("plain-staff-tokens", reverse("admin:knox_authtoken_changelist")),
        ("plain-staff-token-add", reverse("admin:knox_authtoken_add")),
        (
            "plain-staff-superusers-token-delete",
            reverse("admin:knox_authtoken_delete", args=[boss_token.pk]),
        ),
    ]:
        problems += open_and_check(page, failures, name, path)
    assert page.url.endswith(reverse("admin:index"))
    assert "doesn\u2019t exist" in page.locator(".messagelist").inner_text()

    assert not problems, "\n".join(problems)
