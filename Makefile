# The two set-up commands of the README. Both work on a fresh Debian machine.
.PHONY: run test lint

run:
	@scripts/run.sh

test:
	@scripts/test.sh

lint:
	@scripts/bootstrap.sh && .venv/bin/ruff check .
