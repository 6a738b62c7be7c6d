# The two set-up commands of the README. Both work on a fresh Debian machine.
.PHONY: run test smoke drill lint

run:
	@scripts/run.sh

test:
	@scripts/test.sh

# `make run`'s stack from an empty var dir, one order paid, submitted and shipped (CI).
smoke:
	@python3 scripts/smoke_run.py

# The fault drill's CI mode (bench/fault_drill.py --ci, docs/benchmarks.md "Fault drill"):
# about a minute of orders through PodHub on PostgreSQL and Redis while workers, web, beat,
# Redis and PostgreSQL are killed; fails on any lost or doubled order. Needs what
# `make test` installs (PostgreSQL, Redis, the venv). DRILL_SEED replays a schedule; the
# drill stops itself after 540 s, `timeout` is the last resort.
drill:
	@scripts/bootstrap.sh && timeout -k 30 660 .venv/bin/python bench/fault_drill.py --ci --seed $${DRILL_SEED:-1}

lint:
	@scripts/bootstrap.sh && .venv/bin/ruff check . && .venv/bin/lint-imports
