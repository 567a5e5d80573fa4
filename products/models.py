"""The product catalogue."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Upper
from django.utils import timezone

from shop.models import ShopModel


class ProductQuerySet(models.QuerySet):
    def search(self, text, fields=("sku", "name", "description")):
        """Products with `text` in any of `fields`, in any case.

        On PostgreSQL each field has a trigram index on `UPPER(field)` (migration 0006),
        the left side of `icontains` there: a search reads the index, not the table.
        """
        condition = models.Q()
        for field in fields:
            condition |= models.Q(**{f"{field}__icontains": text})
        return self.filter(condition)

    def available(self):
        """The products on sale (not discontinued): what customers see."""
        return self.filter(active=True)


class Product(ShopModel):
    """A product of the catalogue, keyed by its `sku` (the backfill's key).

    Besides `Meta.indexes`, PostgreSQL has trigram indexes for the search on `UPPER()` of
    the SKU, the name and the description (`ProductQuerySet.search`).
    """

    # What a product is, besides its key and its timestamps: what the API, the admin's form
    # and the backfill write (in this order).
    DATA_FIELDS = (
        "name",
        "description",
        "category",
        "price",
        "metal_type",
        "stone_type",
        "customizable",
        "active",
    )

    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    category = models.CharField(max_length=100, blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    # What the old service's catalogue file says of a piece of jewellery (empty otherwise).
    # Defaults in the database too: rows inserted by SQL (a bulk load) need not name them.
    metal_type = models.CharField(max_length=100, blank=True, default="", db_default="")
    stone_type = models.CharField(max_length=100, blank=True, default="", db_default="")
    customizable = models.BooleanField(null=True, blank=True, help_text="Empty: not known.")
    # A discontinued product is kept (its purchases refer to it) but no longer sold: only
    # staff see it. A default in the database: the release still serving inserts without it.
    active = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Unticked: discontinued — kept with its sales, hidden from customers, "
        "not for sale.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        permissions = [("import_products", "Can import products (CSV backfill)")]
        indexes = [
            models.Index(fields=["price"], name="products_price_idx"),
            # The `category` filter ignores case: `UPPER(category) = UPPER(%s)` uses this
            # index, where a plain one (and its LIKE twin) would be dead weight on each write.
            # The id after it gives a category's page in the list's order straight off the
            # index (a category is a 1% of a million products).
            models.Index(Upper("category"), "id", name="products_category_idx"),
        ]
        constraints = [
            # A constraint rather than `unique=True`: the same unique index, without the
            # `varchar_pattern_ops` twin Django adds to a unique CharField on PostgreSQL for
            # LIKE queries that nothing here runs (it only slowed every write).
            models.UniqueConstraint(
                fields=["sku"],
                name="products_sku_unique",
                violation_error_message="A product with that SKU already exists.",
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=Decimal("0")),
                name="products_price_not_negative",
                violation_error_message="The price cannot be negative.",
            ),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"


class BackfillRun(ShopModel):
    """One run of the CSV backfill, from the command, the API or the admin.

    An upload is queued (`queued`) and run by a worker (`running`); the command and
    the old service's `GET` run at once. While running, `progress` (the fraction of
    the current phase done: reading the file, then writing the catalogue) and `rows`
    are written every second or so, outside the import's
    transaction, so anyone can watch them. The record ends `succeeded`, `partial`,
    `aborted`, `failed` or `cancelled`. A run whose process died is found out by the
    next look at the runs (`products.backfill.runs.sweep_stale_runs`) and marked failed.
    """

    class Status(models.TextChoices):
        # The labels are what staff read (the admin calls a run an import).
        QUEUED = "queued", "queued: waiting to start"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded: every line imported"
        PARTIAL = "partial", "partial: valid lines imported, some rejected"
        ABORTED = "aborted", "stopped: lines rejected in strict mode, nothing imported"
        FAILED = "failed", "failed: nothing imported"
        CANCELLED = "cancelled", "cancelled: nothing imported"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    class Origin(models.TextChoices):
        COMMAND = "command", "manage.py backfill"
        API = "api", "API (another program)"
        ADMIN = "admin", "back office"

    # How many rejected lines a run keeps (the total is always counted): memory and
    # row size stay bounded whatever the file.
    MAX_STORED_REJECTIONS = 1000

    source = models.CharField(max_length=500, help_text="The file's path or uploaded name.")
    upload = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where the uploaded file waits in the default storage (emptied once the run "
        "has ended and the file is deleted).",
    )
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.COMMAND)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff member who started it (empty for the command).",
    )
    queued_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="Empty while queued.")
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )

    class Phase(models.TextChoices):
        READING = "reading", "reading: the file is read, checked and staged"
        WRITING = "writing", "writing: the catalogue is written"

    phase = models.CharField(
        max_length=16,
        choices=Phase.choices,
        blank=True,
        default="",
        db_default="",
        help_text="What a running import is doing (empty before it starts).",
    )
    progress = models.FloatField(
        default=0.0,
        help_text="The fraction of the current phase done, 0 to 1: of the file read while "
        "reading, of the rows written while writing; 1 once succeeded or partial.",
    )
    cancel_requested = models.BooleanField(default=False)
    dry_run = models.BooleanField(default=False)
    strict = models.BooleanField(default=False)
    rows = models.PositiveBigIntegerField(default=0, help_text="Data rows read.")
    created = models.PositiveBigIntegerField(default=0)
    updated = models.PositiveBigIntegerField(default=0)
    unchanged = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    rejected_lines = models.JSONField(
        default=list, blank=True, help_text='The first rejected rows: [{"line": 7, "reason": …}]'
    )
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True, help_text="Why a failed run failed.")
    # Nullable: the release still serving inserts runs without it while the new one migrates
    # (NOT NULL with Django's default would fail its INSERTs), and no default rewrites the table.
    request_id = models.CharField(  # noqa: DJ001
        max_length=128,
        null=True,
        blank=True,
        help_text="The X-Request-ID of the request that started or queued it (its log lines "
        "and its worker's carry the same); empty for the command.",
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = "import run"

    def __str__(self):
        # No status here: a page's title would go stale while the run moves on.
        return f"Import run {self.pk}"

    @property
    def finished(self):
        return self.status not in self.ACTIVE

    @property
    def elapsed(self):
        """Seconds from start to finish (None until it has started and finished)."""
        if self.finished_at is None or self.started_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
