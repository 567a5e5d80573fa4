"""Migration operations of the shop's own."""

from django.contrib.postgres import operations as postgres_operations
from django.db.migrations.operations import RunSQL
from django.db.migrations.operations.base import Operation, OperationCategory


class PostgresIndexConcurrently(Operation):
    """`CREATE INDEX CONCURRENTLY` of an index only PostgreSQL has (GIN, trigram operator
    classes), written as SQL; nothing on other databases.

    Concurrently: the table's writes go on while it builds (a plain `CREATE INDEX` holds
    them for as long as it reads the table, minutes on a large one). A build that failed
    leaves an invalid index of that name behind: it is dropped and built again. Such
    indexes stay out of the models' `Meta.indexes`, which SQLite would rebuild with its
    tables; the model says in a comment which indexes serve it.
    """

    atomic = False  # CONCURRENTLY cannot run inside a transaction
    reduces_to_sql = True
    reversible = True
    category = OperationCategory.ADDITION

    def __init__(self, name, table, using):
        self.name = name
        self.table = table
        self.using = using  # what follows `USING`: the method and the indexed expressions

    def deconstruct(self):
        return (
            self.__class__.__qualname__,
            [],
            {"name": self.name, "table": self.table, "using": self.using},
        )

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return
        invalid = self._invalid(schema_editor)
        if invalid:
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.name}"')
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{self.name}" ON "{self.table}" '
            f"USING {self.using}"
        )
        # An index on an expression has no statistics until the table is analysed: until
        # then the planner guesses how many rows match it (a fixed fraction), and may read
        # the index for a search that matches every row, or count what it need not.
        schema_editor.execute(f'ANALYZE "{self.table}"')

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{self.name}"')

    def _invalid(self, schema_editor):
        if getattr(schema_editor, "collect_sql", False):
            return False  # sqlmigrate: no database to ask
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                [f'"{self.name}"'],
            )
            row = cursor.fetchone()
        return bool(row and row[0])

    def describe(self):
        return f"Concurrently create index {self.name} on {self.table} (PostgreSQL)"

    @property
    def migration_name_fragment(self):
        return self.name.lower()


class TrigramExtension(postgres_operations.TrigramExtension):
    """`CREATE EXTENSION IF NOT EXISTS pg_trgm` (PostgreSQL only), left in place when the
    migration is unapplied: other apps' indexes use its operator classes too."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass


class PostgresRunSQL(RunSQL):
    """`RunSQL` on PostgreSQL only (a trigger, a BRIN index); nothing on other databases."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
