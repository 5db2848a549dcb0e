# The two entry points of the README. Each installs what is missing first.
.PHONY: lab test setup lint bench clean

REPORT := reports/ctdiag-report.html

# The embedded default: build the lab, run every check against it, write the HTML report
# (its summary.json beside it, named after it), tear the lab down (also on failure), print
# where the report is.
# Needs root.
lab: setup
	@mkdir -p reports
	.venv/bin/python -m pytest --lab --probe --html=$(REPORT) --self-contained-html \
		--junitxml=reports/junit.xml; status=$$?; \
		echo "ctdiag report: $(CURDIR)/$(REPORT) (figures: $(CURDIR)/$(REPORT:.html=.summary.json))"; \
		exit $$status

setup:
	./scripts/bootstrap

# The project's own tests (root-only tests included: run as root).
test: setup
	.venv/bin/python -m pytest tests

lint: setup
	.venv/bin/ruff check ctdiag tests checks benchmarks conftest.py
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: setup
	.venv/bin/python benchmarks/bench_startup.py
	.venv/bin/python benchmarks/bench_parse.py
	.venv/bin/python benchmarks/bench_hostile_lines.py
	.venv/bin/python benchmarks/bench_collect.py
	.venv/bin/python benchmarks/bench_exec.py
	.venv/bin/python benchmarks/bench_nodes.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .mypy_cache .ruff_cache ctdiag/parse/*.so
