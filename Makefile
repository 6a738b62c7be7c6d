# The two set-up commands of the README. Both work on a fresh Debian machine.
.PHONY: run test smoke lint

run:
	@scripts/run.sh

test:
	@scripts/test.sh

# `make run`'s stack from an empty var dir, one order paid, submitted and shipped (CI).
smoke:
	@python3 scripts/smoke_run.py

lint:
	@scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/lint-imports
