"""`exitflow init-db` (the Alembic migrations) builds exactly the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import text

from tests.conftest import PG_SCHEMA, make_app
from workflow.extensions import db


def test_migrations_match_the_models(backend, tmp_path, request):
    app = make_app(backend, tmp_path, request)
    with app.app_context():
        if backend == "postgres":
            db.session.execute(text(f"DROP SCHEMA {PG_SCHEMA} CASCADE"))
            db.session.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
            db.session.commit()
            request.getfixturevalue("pg_ready")["created"] = False
        else:
            db.drop_all()
        upgrade()
        upgrade()  # a second run changes nothing
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []
        db.session.remove()
        db.engine.dispose()
