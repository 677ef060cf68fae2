.PHONY: install run test lint bench clean

VENV := .venv
STAMP := $(VENV)/.ember-installed

install: $(STAMP)

$(STAMP): pyproject.toml scripts/install.sh
	./scripts/install.sh
	touch $(STAMP)

run: install
	@$(VENV)/bin/python -m compileall -q backend tui  # what changed since the install: a quicker start
	$(VENV)/bin/ember run smollm2:135m

test: install
	$(VENV)/bin/ruff check backend tui tests bench
	./scripts/typecheck.sh
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check backend tui tests bench
	./scripts/typecheck.sh

bench: install
	$(VENV)/bin/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
