from django.db import migrations

from shop.migration_operations import PostgresRunSQL

# A statement trigger: one check per UPDATE or DELETE, not one per row. DELETE is let
# through only inside `prune_audit_events`' transaction (`SET LOCAL audit.allow_prune`).
# TRUNCATE is not guarded: the test runner empties tables with it between transactional
# tests; only the table's owner may TRUNCATE (docs/operations.md).
APPEND_ONLY = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.allow_prune', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Old events are removed with manage.py prune_audit_events.';
END
$$;
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
"""

REMOVE = """
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
DROP FUNCTION IF EXISTS audit_events_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [PostgresRunSQL(APPEND_ONLY, REMOVE)]
