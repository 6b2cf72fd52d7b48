# The two commands of the README's Quick start. Each sets up what it needs.
SERVERS ?= 4
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test bench clean

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
