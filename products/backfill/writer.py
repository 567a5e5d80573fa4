"""Writes validated rows into the catalogue: a staging table, then one upsert.

Both databases follow the same plan:

1. the rows stream into a temporary staging table (PostgreSQL: `COPY`;
   SQLite: batched `executemany`), a batch at a time, so Python never holds
   more than a batch; between two batches the caller's `checkpoint` runs (the
   run's progress, a cancel). This happens outside any transaction on the
   catalogue: a temporary table is the session's own, and nothing else waits;
2. later duplicates of a sku are found with one `GROUP BY` in the database,
   reported, and removed from the staging table;
3. inside the caller's transaction, one `INSERT … SELECT … ON CONFLICT (sku)
   DO UPDATE … WHERE (changed)` creates new products and updates changed ones;
   its SELECT joins the catalogue to skip unchanged rows, which are not touched
   (no write, no new `updated_at`), so re-running a file is cheap. On
   PostgreSQL a load larger than the catalogue (a first load) is one UPDATE of
   the changed products, then a plain INSERT of the new ones instead: nearly
   every row is new. A column a row leaves empty (`active`) keeps the product's
   value, and takes its default for a new product.

The upsert takes no lock on the catalogue beyond the rows it writes (the table's
ROW EXCLUSIVE, as any INSERT): reads of products never wait for it, and neither
does anything that does not lock one of the rows being written. No index is
dropped and rebuilt for a large load, which would lock the whole table against
reads (ACCESS EXCLUSIVE) for the length of the write.

Step 3 also writes the audit trail in the same statement (or transaction), set-based:
one `INSERT INTO audit_events … SELECT` of an event per product created or changed, its
changes `{field: [before, after]}` built in SQL from the catalogue's row as the upsert
found it and the staged row. The rows to write are read once, with the row they replace
(`pending`), for the upsert and for the events alike; an unchanged file has none, and
writes no event.

A dry run stops after step 2 and counts what step 3 would do with a join.
"""

import contextlib
from itertools import islice

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEvent
from audit.recording import door_columns, object_type_of
from products.models import Product

STAGING = "products_backfill_staging"
DUPLICATES = "products_backfill_duplicates"
PENDING = "products_backfill_pending"
# The reader's rows: the file line, the key, then the product's data (`Product.DATA_FIELDS`).
DATA_COLUMNS = Product.DATA_FIELDS
# Columns a row may leave empty (staged NULL) to keep the product's value; a new product
# then takes the column's default.
KEPT_WHEN_EMPTY = {"active": "TRUE"}
STAGING_COLUMNS = ("line", "sku", *DATA_COLUMNS)
# What an import's audit events follow of a product (as `products.services` does).
AUDITED_COLUMNS = ("sku", *DATA_COLUMNS)
DUPLICATE_PAGE = 5000
# Rows per COPY statement on PostgreSQL: the checkpoint runs between two of them.
COPY_CHUNK = 20_000
# SQLSTATE of a unique violation: a product created by someone else during the load.
UNIQUE_VIOLATION = "23505"
# PostgreSQL's memory for each hash and sort of the import's statements (the duplicates'
# GROUP BY, the join of the file to the catalogue): a million products fit, where the
# default 4 MB spills them to temporary files. One import runs at a time.
IMPORT_WORK_MEM = "128MB"


def staged_values(current=None):
    """SQL: the staged row's data columns (alias `s`) as the product takes them; a column
    left empty keeps the value of the product `current` (an alias; None: a new product)."""
    values = []
    for column in DATA_COLUMNS:
        if column in KEPT_WHEN_EMPTY:
            kept = f"{current}.{column}, " if current else ""
            values.append(f"COALESCE(s.{column}, {kept}{KEPT_WHEN_EMPTY[column]})")
        else:
            values.append(f"s.{column}")
    return values


def _is(column, kind):
    """Whether the product's `column` is a field of `kind` (`"DecimalField"`…)."""
    return Product._meta.get_field(column).get_internal_type() == kind


def writer_for(connection, batch_size):
    """The writer for the connection's database."""
    if connection.vendor == "postgresql":
        return PostgresWriter(connection, batch_size)
    if connection.vendor == "sqlite":
        return SqliteWriter(connection, batch_size)
    raise NotImplementedError(f"no backfill writer for {connection.vendor}")


class Writer:
    staging_ddl = None
    counts_written = False  # whether `write_progress` can tell while the upsert runs

    def __init__(self, connection, batch_size):
        self.connection = connection
        self.batch_size = max(1, int(batch_size))
        self.table = connection.ops.quote_name(Product._meta.db_table)
        self.written = 0
        self.staged = 0  # rows written, less the duplicates removed
        self.first_id = None  # the last product id taken before the upsert began

    def raw_cursor(self):
        # The driver's own cursor: Django's debug wrapper would log every batch.
        self.connection.ensure_connection()
        return self.connection.connection.cursor()

    def __enter__(self):
        self.cursor = self.raw_cursor()
        for table in (PENDING, DUPLICATES, STAGING):
            self.cursor.execute(f"DROP TABLE IF EXISTS {table}")
        self.cursor.execute(self.staging_ddl)
        return self

    def __exit__(self, exc_type, exc, tb):
        # Temporary tables vanish with the session anyway; dropping them now keeps a
        # persistent connection clean (the next run drops them too, whatever happened).
        try:
            if not self.connection.in_atomic_block:
                self.end_batch()
                for table in (PENDING, DUPLICATES, STAGING):
                    self.cursor.execute(f"DROP TABLE IF EXISTS {table}")
        except Exception:  # the driver's own errors: this is its raw cursor
            pass  # the connection is gone or its transaction aborted: nothing to clean
        finally:
            self.cursor.close()

    def end_batch(self):
        """Closes a batch's transaction left open by an error (SQLite stages in its own)."""

    def write(self, rows, checkpoint=None):
        """Stages `rows`, calling `checkpoint()` between batches; returns how many."""
        raise NotImplementedError

    def remove_duplicates(self, on_duplicate):
        """Reports and drops every later duplicate of a sku; returns how many.

        Calls `on_duplicate(line, sku, first_line)` in line order, a page at a time.
        """
        cursor = self.cursor
        cursor.execute(
            f"CREATE TEMPORARY TABLE {DUPLICATES} AS "
            f"SELECT s.line AS line, s.sku AS sku, f.first_line AS first_line "
            f"FROM {STAGING} s JOIN ("
            f"  SELECT sku, MIN(line) AS first_line FROM {STAGING} "
            f"  GROUP BY sku HAVING COUNT(*) > 1"
            f") f ON f.sku = s.sku AND s.line > f.first_line"
        )
        cursor.execute(f"SELECT COUNT(*) FROM {DUPLICATES}")
        (count,) = cursor.fetchone()
        self.staged = self.written - count
        if not count:
            return 0
        after = 0
        while True:
            cursor.execute(
                f"SELECT line, sku, first_line FROM {DUPLICATES} "
                f"WHERE line > {self.placeholder} ORDER BY line LIMIT {DUPLICATE_PAGE}",
                (after,),
            )
            page = cursor.fetchall()
            if not page:
                break
            for line, sku, first_line in page:
                on_duplicate(line, sku, first_line)
            after = page[-1][0]
        cursor.execute(f"DELETE FROM {STAGING} WHERE line IN (SELECT line FROM {DUPLICATES})")
        return count

    def plan(self):
        """What `upsert()` would do, without writing: (created, updated, unchanged)."""
        changed = self.changed("p", "s")
        self.cursor.execute(
            f"SELECT "
            f"  COALESCE(SUM(CASE WHEN p.id IS NULL THEN 1 ELSE 0 END), 0), "
            f"  COALESCE(SUM(CASE WHEN p.id IS NOT NULL AND ({changed}) THEN 1 ELSE 0 END), 0), "
            f"  COUNT(*) "
            f"FROM {STAGING} s LEFT JOIN {self.table} p ON p.sku = s.sku"
        )
        created, updated, total = self.cursor.fetchone()
        return int(created), int(updated), int(total) - int(created) - int(updated)

    def upsert(self):
        """Creates and updates products from the staging table: (created, updated, unchanged)."""
        raise NotImplementedError

    def write_progress(self, cursor):
        """The fraction of the staged rows the running upsert has written, read on another
        connection's `cursor`; None where it cannot be known while the upsert runs."""
        return None

    def _upsert_sql(self, source, returning=""):
        """The upsert of the rows of `source` (a query or table of new and changed rows).

        ON CONFLICT settles a product created meanwhile by someone else. (The WHERE clause
        also tells SQLite's parser where the SELECT ends and the upsert clause begins.) New
        products get their ids in the file's order.
        """
        table = self.table
        columns = ", ".join(("sku", *DATA_COLUMNS, "created_at", "updated_at"))
        changed = self.changed(table, "excluded")
        updates = ", ".join(f"{c} = excluded.{c}" for c in (*DATA_COLUMNS, "updated_at"))
        p = self.placeholder
        insert = (
            f"INSERT INTO {table} ({columns}) "
            f"SELECT s.sku, {', '.join(f's.{c}' for c in DATA_COLUMNS)}, {p}, {p} "
            f"FROM {source} s WHERE true ORDER BY s.line"
        )
        return f"{insert} ON CONFLICT (sku) DO UPDATE SET {updates} WHERE {changed} {returning}"

    def _pending_sql(self, *, new=True):
        """The staged rows that are new or change their product, with the values the
        product takes (`staged_values`) and its row as it is (`old_id`, `old_<column>`;
        NULL for a new one).

        The join keeps only new and changed rows: one hash join is much cheaper than
        probing the unique index and comparing a million unchanged rows one by one,
        which makes a re-run of an unchanged file fast. Without `new`, only the changed.
        """
        old = ", ".join(f"q.{c} AS old_{c}" for c in AUDITED_COLUMNS)
        join, wanted = "JOIN", self.changed("q", "s")
        if new:
            join, wanted = "LEFT JOIN", f"q.id IS NULL OR {wanted}"
        values = zip(staged_values("q"), DATA_COLUMNS, strict=True)
        return (
            f"SELECT s.line, s.sku, {', '.join(f'{v} AS {c}' for v, c in values)}, "
            f"q.id AS old_id, {old} "
            f"FROM {STAGING} s {join} {self.table} q ON q.sku = s.sku WHERE {wanted}"
        )

    def _events_sql(self, rows, product_id, *, created, old=True):
        """`(sql, params)`: an INSERT of an audit event for each row of `rows` (a FROM
        clause whose row `r` has the product's new columns and, with `old`, its columns as
        they were, `old_<column>`); `product_id` and `created` (whether the product is
        new) are SQL expressions over it.

        A product the import creates is named without its values: they are the product's
        own until its first change, whose event holds them as `before` (and a deletion's
        snapshot as they were last). Writing them too cost a first load a quarter more.
        """
        door = door_columns()
        columns = [*door, "action", "object_type", "object_id", "changes", "reason"]
        p = self.placeholder
        changes = "'{}'"
        if old:
            changes = f"CASE WHEN {created} THEN {changes} ELSE {self.changes_json('r')} END"
        sql = (
            f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(columns)}) "
            f"SELECT {', '.join([p] * len(door))}, "
            f"CASE WHEN {created} THEN 'created' ELSE 'updated' END, {p}, "
            f"CAST({product_id} AS TEXT), {changes}, '' "
            f"FROM {rows}"
        )
        return sql, [*door.values(), object_type_of(Product)]

    def changes_json(self, row):
        """SQL: the JSON `{column: [before, after]}` of the audited columns that differ
        between `old_<column>` and `<column>` of `row`."""
        raise NotImplementedError

    def count_products(self):
        self.cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
        return self.cursor.fetchone()[0]

    def changed(self, old, new):
        """SQL: some data column differs between the rows `old` and `new` (NULL-safe:
        `customizable` may be unknown)."""
        return " OR ".join(
            f"({new}.{c} IS NOT NULL AND {old}.{c} {self.distinct} {new}.{c})"
            if c in KEPT_WHEN_EMPTY
            else f"{old}.{c} {self.distinct} {new}.{c}"
            for c in DATA_COLUMNS
        )

    def _now(self):
        return self.connection.ops.adapt_datetimefield_value(timezone.now())


class PostgresWriter(Writer):
    """`COPY` into an unlogged temporary table, then one upsert."""

    placeholder = "%s"
    distinct = "IS DISTINCT FROM"
    counts_written = True
    staging_ddl = (
        f"CREATE TEMPORARY TABLE {STAGING} ("
        "line integer NOT NULL, sku text NOT NULL, name text NOT NULL, "
        "description text NOT NULL, category text NOT NULL, price numeric(12, 2) NOT NULL, "
        "metal_type text NOT NULL, stone_type text NOT NULL, customizable boolean, "
        "active boolean)"
    )

    def __enter__(self):
        super().__enter__()
        self.cursor.execute(f"SET work_mem = '{IMPORT_WORK_MEM}'")
        return self

    def __exit__(self, exc_type, exc, tb):
        # A persistent connection goes back to the server's setting. Should the driver fail
        # (this is its raw cursor), the connection is gone or its transaction aborted: at
        # worst the session keeps the larger setting, which changes no answer.
        with contextlib.suppress(Exception):
            self.cursor.execute("RESET work_mem")
        super().__exit__(exc_type, exc, tb)

    def write(self, rows, checkpoint=None):
        copy_sql = f"COPY {STAGING} ({', '.join(STAGING_COLUMNS)}) FROM STDIN"
        rows, written = iter(rows), 0
        while True:
            chunk = 0
            # Each COPY in a transaction of its own (a savepoint inside a caller's): a file
            # found unusable halfway leaves the connection usable for recording why.
            with (
                transaction.atomic(using=self.connection.alias),
                self.cursor.copy(copy_sql) as copy,
            ):
                write_row = copy.write_row
                for row in islice(rows, COPY_CHUNK):
                    write_row(row)
                    chunk += 1
            written += chunk
            if checkpoint is not None:
                checkpoint()
            if chunk < COPY_CHUNK:
                break
        self.written += written
        # Fresh statistics: the GROUP BY and the upsert plan on a table the planner
        # otherwise believes empty. Its size and the skus' being (nearly) all distinct are
        # what they need: a sample of 3,000 rows tells both, where the default 30,000 reads
        # every page of a million rows (20 ms against 300).
        self.cursor.execute(f"ALTER TABLE {STAGING} ALTER COLUMN sku SET STATISTICS 10")
        self.cursor.execute(f"ANALYZE {STAGING} (sku)")
        return written

    def upsert(self):
        """Writes the staged rows; call inside a transaction. (created, updated, unchanged)

        A load larger than the catalogue (a first load) is nearly all new products: they go
        in with a plain INSERT of the rows whose sku the catalogue lacks, which spares
        `ON CONFLICT`'s speculative insertion per row, then one UPDATE of the changed
        others. A product created meanwhile by someone else makes the INSERT fail (a
        unique violation): that attempt is rolled back to its savepoint and the upsert,
        which settles such conflicts, does the work. Other loads: the upsert.
        """
        # The statements are planned as costly (a whole file's rows), which has the planner
        # compile their many expressions (the audit events' JSON) to machine code first:
        # more than half a second, to save nothing on a re-run that writes no row.
        self.cursor.execute("SET LOCAL jit = off")
        self.cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (Product._meta.db_table,))
        (self.id_sequence,) = self.cursor.fetchone()
        self.first_id = self._last_id(self.cursor)
        if self.staged > self.count_products():
            try:
                with transaction.atomic(using=self.connection.alias):
                    return self._insert_then_update()
            except Exception as error:
                if getattr(error, "sqlstate", None) != UNIQUE_VIOLATION:
                    raise
        return self._upsert()

    def _insert_then_update(self):
        now = self._now()
        table = self.table
        # The products the file changes first, while the catalogue is still small to join.
        updates = ", ".join(f"{c} = r.{c}" for c in DATA_COLUMNS)
        events, params = self._events_sql(
            "updated u JOIN pending r ON r.old_id = u.id", "u.id", created="false"
        )
        self.cursor.execute(
            f"WITH pending AS MATERIALIZED ({self._pending_sql(new=False)}), "
            f"updated AS (UPDATE {table} p SET {updates}, updated_at = %s FROM pending r "
            f"WHERE p.id = r.old_id RETURNING p.id), "
            f"audited AS ({events}) "
            "SELECT COUNT(*) FROM updated",
            (now, *params),
        )
        (updated,) = self.cursor.fetchone()
        columns = ", ".join(("sku", *DATA_COLUMNS, "created_at", "updated_at"))
        events, params = self._events_sql("inserted r", "r.id", created="true", old=False)
        self.cursor.execute(
            f"WITH inserted AS (INSERT INTO {table} ({columns}) "
            f"SELECT s.sku, {', '.join(staged_values())}, %s, %s "
            f"FROM {STAGING} s WHERE NOT EXISTS (SELECT 1 FROM {table} q WHERE q.sku = s.sku) "
            f"ORDER BY s.line RETURNING id, {', '.join(AUDITED_COLUMNS)}), "
            f"audited AS ({events}) "
            "SELECT COUNT(*) FROM inserted",
            (now, now, *params),
        )
        (created,) = self.cursor.fetchone()
        return created, updated, self.staged - created - updated

    RETURNING_CREATED = "RETURNING id, sku, (xmax = 0) AS created"

    def _upsert(self):
        now = self._now()
        events, params = self._events_sql(
            "upserted u JOIN pending r ON r.sku = u.sku", "u.id", created="u.created"
        )
        # xmax is 0 on a freshly inserted row version and set on an updated one.
        self.cursor.execute(
            f"WITH pending AS MATERIALIZED ({self._pending_sql()}), "
            f"upserted AS ({self._upsert_sql('pending', self.RETURNING_CREATED)}), "
            f"audited AS ({events}) "
            "SELECT COUNT(*) FILTER (WHERE created), COUNT(*) FILTER (WHERE NOT created) "
            "FROM upserted",
            (now, now, *params),
        )
        created, updated = self.cursor.fetchone()
        return created, updated, self.staged - created - updated

    def changes_json(self, row):
        pairs = []
        for column in AUDITED_COLUMNS:
            new, before = f"{row}.{column}", f"{row}.old_{column}"
            if _is(column, "DecimalField"):  # numeric(12, 2) as its text: "12.50"
                new, before = f"{new}::text", f"{before}::text"
            pairs.append(
                f"'{column}', CASE WHEN {before} IS DISTINCT FROM {new} "
                f"THEN jsonb_build_array({before}, {new}) END"
            )
        return f"jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)}))"

    def _last_id(self, cursor):
        cursor.execute(f"SELECT last_value, is_called FROM {self.id_sequence}")
        last, called = cursor.fetchone()
        return last if called else last - 1

    def write_progress(self, cursor):
        """Every row the INSERT is given takes the next product id as it is written (an
        upserted one too, even when it turns into an update): the ids taken since the
        upsert began are the rows written. A sequence moves outside transactions, so
        another connection sees it while the one long statement runs."""
        if not self.staged or self.first_id is None:
            return 0.0  # the upsert has not begun (the duplicates are being checked)
        return min(1.0, max(0, self._last_id(cursor) - self.first_id) / self.staged)


class SqliteWriter(Writer):
    """Batched `executemany` into a temporary table, then one upsert."""

    placeholder = "?"
    distinct = "IS NOT"
    staging_ddl = (
        f"CREATE TEMPORARY TABLE {STAGING} ("
        "line INTEGER NOT NULL, sku TEXT NOT NULL, name TEXT NOT NULL, "
        "description TEXT NOT NULL, category TEXT NOT NULL, price NUMERIC NOT NULL, "
        "metal_type TEXT NOT NULL, stone_type TEXT NOT NULL, customizable BOOLEAN, "
        "active BOOLEAN)"
    )

    def end_batch(self):
        if self.connection.connection.in_transaction and not self.connection.in_atomic_block:
            self.cursor.execute("ROLLBACK")

    def write(self, rows, checkpoint=None):
        insert = f"INSERT INTO {STAGING} VALUES ({', '.join('?' * len(STAGING_COLUMNS))})"
        rows, written = iter(rows), 0
        # One short transaction per batch, on the temporary database only: the main
        # database's write lock stays free (purchases go on; the run's progress is
        # written between two batches). Inside a caller's transaction (a test's), its own.
        own = not self.connection.connection.in_transaction
        while batch := list(islice(rows, self.batch_size)):
            if own:
                self.cursor.execute("BEGIN")
            self.cursor.executemany(insert, batch)
            if own:
                self.cursor.execute("COMMIT")
            written += len(batch)
            if checkpoint is not None:
                checkpoint()
        self.written += written
        return written

    def upsert(self):
        now = self._now()
        before = self.count_products()
        self.cursor.execute(f"CREATE TEMPORARY TABLE {PENDING} AS {self._pending_sql()}")
        self.cursor.execute(self._upsert_sql(PENDING), (now, now))
        changed = self.cursor.rowcount  # rows inserted plus rows updated
        created = self.count_products() - before
        updated = changed - created
        events, params = self._events_sql(
            f"{PENDING} r JOIN {self.table} p ON p.sku = r.sku", "p.id", created="r.old_id IS NULL"
        )
        self.cursor.execute(events, params)
        return created, updated, self.staged - created - updated

    def changes_json(self, row):
        pairs = []
        for column in AUDITED_COLUMNS:
            new, before = f"{row}.{column}", f"{row}.old_{column}"
            differ = f"{before} IS NOT {new}"
            if _is(column, "DecimalField"):  # as the column's text, "12.50"
                places = Product._meta.get_field(column).decimal_places
                new, before = (
                    f"CASE WHEN {v} IS NULL THEN NULL ELSE printf('%.{places}f', {v}) END"
                    for v in (new, before)
                )
            elif _is(column, "BooleanField"):  # JSON true/false, not SQLite's 1/0
                new, before = (
                    f"json(CASE WHEN {v} IS NULL THEN 'null' WHEN {v} THEN 'true' ELSE 'false' END)"
                    for v in (new, before)
                )
            pairs.append(f"'{column}', CASE WHEN {differ} THEN json_array({before}, {new}) END")
        # A merge patch drops the keys whose value is NULL: the columns that did not change.
        return f"json_patch('{{}}', json_object({', '.join(pairs)}))"
