"""procrastinate job queue schema (procrastinate 3.10)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The job tables live in the application database so a webhook delivery and its job commit in one
transaction. The SQL is procrastinate's own schema.sql of the pinned version, kept in this repository
so the migration does not change when the package is upgraded: an upgrade of procrastinate comes
with a new migration that applies its files from procrastinate/sql/migrations.
"""
from pathlib import Path

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).with_name("0005_procrastinate_schema.sql")


def upgrade():
    # The raw DBAPI cursor runs the multi-statement script as is (no bind-parameter parsing).
    cursor = op.get_bind().connection.dbapi_connection.cursor()
    cursor.execute(SCHEMA.read_text())


def downgrade():
    op.execute("""
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tgname, tgrelid::regclass AS tbl FROM pg_trigger
                        WHERE tgname LIKE 'procrastinate%' AND NOT tgisinternal LOOP
                EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', item.tgname, item.tbl);
            END LOOP;
            FOR item IN SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%' LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema() LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.fn);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                        WHERE t.typname LIKE 'procrastinate%' AND t.typtype IN ('e', 'c') AND n.nspname = current_schema() LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END $$;
    """)
