# Rapport — the two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test install lint check-migrations pytest-sqlite pytest-postgres browser-deps messages vendor bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## demo: install, migrate, load the demo company, create an admin login, and serve with the worker.
demo: install
	$(BIN)/rapport demo

## test: install, lint, check migrations, and run every test on SQLite and on PostgreSQL.
test: install browser-deps lint check-migrations pytest-sqlite pytest-postgres

lint: install
	$(BIN)/ruff check rapport tests
	$(BIN)/ruff format --check rapport tests

check-migrations: install
	RAPPORT_VAR_DIR=$$(mktemp -d) $(BIN)/rapport makemigrations --check --dry-run

pytest-sqlite: install
	$(BIN)/pytest -q -p no:cacheprovider

pytest-postgres: install
	scripts/with-postgres $(BIN)/pytest -q -p no:cacheprovider -m "not browser"

## browser-deps: Debian's Chromium and CJK fonts for the browser tests (installed when missing).
browser-deps:
	@scripts/ensure-browser

## messages: compile translations (run after editing rapport/locale/*/LC_MESSAGES/django.po).
messages: install
	cd rapport && ../$(BIN)/django-admin compilemessages --ignore=.venv

## vendor: refresh front-end assets from the npm registry into rapport/static/vendor.
vendor:
	scripts/vendor-assets

bench: install
	$(BIN)/rapport bench ingest

clean:
	rm -rf $(VENV) var
