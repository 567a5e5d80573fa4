# The two commands of the project: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: run test lint format install install-dev migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Runtime packages only (what production installs); re-installs whenever requirements.txt changes.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Runtime plus tests and tooling (requirements-dev.txt includes requirements.txt);
# re-installs whenever either file changes.
$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# fill_email_keys: the accounts a database written by an older version has without a key.
migrate: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py fill_email_keys

run: migrate
	@if $(BIN)/python manage.py help backfill >/dev/null 2>&1; then \
		$(BIN)/python manage.py backfill --if-empty || echo "backfill reported rejected rows (see above)"; \
	fi
	$(BIN)/python manage.py ensure_staff
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The tests see a read replica as a mirror of their database (shop/replica.py).
test: install-dev
	DATABASE_REPLICA_URL="$${DATABASE_REPLICA_URL:-$${DATABASE_URL:-sqlite:///$(CURDIR)/db.sqlite3}}" \
		$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
