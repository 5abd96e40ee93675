from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from api import create_app
from api.extensions import db
from config import BASE_DIR, TestingConfig

MIGRATIONS = str(BASE_DIR / "migrations")


def include_name(name, type_, parent_names):
    return not (type_ == "table" and name.startswith("procrastinate"))


def test_models_match_the_committed_migrations(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migrations_downgrade_to_base_and_upgrade_again(empty_database_url):
    app = create_app(TestingConfig, SQLALCHEMY_DATABASE_URI=empty_database_url)
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        downgrade(directory=MIGRATIONS, revision="base")
        tables = db.inspect(db.engine).get_table_names()
        assert set(tables) <= {"alembic_version"}
        assert db.session.execute(db.text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'procrastinate%'")).scalar() == 0
        upgrade(directory=MIGRATIONS)
        assert {"users", "offers"} <= set(db.inspect(db.engine).get_table_names())
        db.engine.dispose()
