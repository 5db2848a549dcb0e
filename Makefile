# The two entry points of the README. Each installs what is missing first.
.PHONY: test setup lint bench clean

setup:
	./scripts/bootstrap

# The project's own tests (root-only tests included: run as root).
test: setup
	.venv/bin/python -m pytest tests

lint: setup
	.venv/bin/ruff check ctdiag tests checks fixtures benchmarks conftest.py
	.venv/bin/mypy

bench: setup
	.venv/bin/python benchmarks/bench_parse.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .mypy_cache .ruff_cache ctdiag/*.so
