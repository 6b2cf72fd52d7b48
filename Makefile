# The two commands of the README's Quick start. Each sets up what it needs.
SERVERS ?= 4
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test bench clean constraints

run:
	@scripts/bootstrap run
	.venv/bin/python -m webperf3 --servers $(SERVERS) $(ARGS)

test:
	@scripts/bootstrap test
	.venv/bin/python -m pytest $(PYTEST_ARGS)

bench:
	@scripts/bootstrap test
	.venv/bin/python benchmarks/run.py

clean:
	rm -rf .venv tests/artifacts .pytest_cache build *.egg-info

# The newest releases pyproject.toml allows on Debian 12's and 13's Pythons,
# written to constraints.txt; run `make test` on them before committing it.
constraints:
	@scripts/bootstrap run
	.venv/bin/python scripts/pin-dependencies
