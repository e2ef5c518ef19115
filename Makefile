# make demo: build, seed and measure the demo site, print the report, write it as HTML.
# make test: run the test suite (SQLite always; PostgreSQL and Redis when reachable).
# Both create the virtualenv and install everything on first use.

SHELL := /bin/bash
VENV ?= .venv
DJANGO ?= Django>=5.2
SCALE ?= 1
REQUESTS ?= 600

# The newest Django needs Python >= 3.12: take the first that works of python3.13/3.12
# (from PATH, or from pyenv if it is there), else python3.
PYTHON ?= $(shell for v in 3.12 3.13; do \
	  for p in python$$v $$(command -v pyenv >/dev/null 2>&1 && ls -d "$$(pyenv root)"/versions/$$v*/bin/python$$v 2>/dev/null); do \
	    "$$p" -c 'import sys' >/dev/null 2>&1 && { echo "$$p"; exit 0; }; \
	  done; done; echo python3)

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell echo '$(DJANGO)' | md5sum | cut -c1-8)

.PHONY: demo test lint install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]" "$(DJANGO)"
	@rm -f $(VENV)/.installed-* && touch $@
	@$(BIN)/python -c 'import django, sys; print("Python", sys.version.split()[0], "Django", django.get_version())'

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# measure -> doctor -> fix -> verify, on a fresh demo database. The generated migrations are
# applied to a scratch copy only and removed at the end, so the demo stays as it was.
PARETO_DEMO = cd demo && ../$(BIN)/python manage.py pareto
FIXES = blog/migrations/*_pareto_*.py

demo: $(STAMP)
	@rm -rf demo/db.sqlite3 demo/db.sqlite3-* demo/$(FIXES) demo/.pareto
	cd demo && ../$(BIN)/python manage.py migrate --verbosity 0
	cd demo && ../$(BIN)/python manage.py seed --scale $(SCALE)
	$(PARETO_DEMO) record --workload workload.toml --requests $(REQUESTS) --run before --replace
	$(PARETO_DEMO) report --run before
	$(PARETO_DEMO) doctor --run before
	$(PARETO_DEMO) fix --run before --app blog --allow-drop --write
	cd demo && DEMO_FIXED=1 ../$(BIN)/python manage.py pareto verify --run before \
		$$(for f in $(FIXES); do echo --apply $$f; done) --as after --replace
	@rm -f demo/$(FIXES)
	@echo
	@echo "Runs 'before' and 'after' are stored in demo/.pareto/pareto.sqlite3. Next:"
	@echo "  cd demo && ../$(BIN)/python manage.py pareto report --run before --format json"
	@echo "  cd demo && ../$(BIN)/python manage.py pareto compare before after"
	@echo
	@echo "The HTML report of 'before', its findings, and before -> after (open it in a browser):"
	@$(PARETO_DEMO) report --html .pareto/report.html --run before --compare before after

clean:
	rm -rf $(VENV) .venv-* demo/db.sqlite3* demo/.pareto tests/.pareto .mypy_cache .pytest_cache
