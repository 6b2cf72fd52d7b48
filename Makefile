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
	rm -rf .venv .venv-constraints tests/artifacts .pytest_cache build *.egg-info

# The newest releases pyproject.toml allows, written to constraints.txt (its
# comment kept); run `make test` on them before committing it.
constraints:
	rm -rf .venv-constraints
	python3 -m venv .venv-constraints
	.venv-constraints/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
	.venv-constraints/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
	{ sed -n '/^#/p' constraints.txt; .venv-constraints/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-constraints
