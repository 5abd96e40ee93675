# Thin wrappers over the scripts; the scripts are the source of truth.
.PHONY: install start test lint coverage db/migrate db/upgrade db/downgrade e2e

DB_ENV = if [ -z "$$DATABASE_URL" ]; then export DATABASE_URL="$$(.venv/bin/python scripts/embedded_pg.py start instance/pgdata 2>/dev/null)"; fi

install:
	bash -c 'source scripts/_venv.sh && ensure_venv'

start:
	scripts/runserver.sh

test:
	scripts/test.sh

lint: install
	.venv/bin/ruff check .

coverage: install
	scripts/test.sh --cov=api --cov-report=term-missing --cov-report=html

db/migrate: install
	$(DB_ENV); .venv/bin/python manage.py db migrate -m "$(or $(m),change)"

db/upgrade: install
	$(DB_ENV); .venv/bin/python manage.py db upgrade

db/downgrade: install
	$(DB_ENV); .venv/bin/python manage.py db downgrade

e2e:
	.venv/bin/python tests.py
