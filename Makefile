# Two commands on a fresh machine: `make demo` and `make test`. Both set up first (idempotent).
.PHONY: setup demo test test-fast bench clean

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/ami demo --out out/demo

test: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy core memory worldmodel device/perception device/speech device/answering device/navigation \
		device/session.py device/responses.py device/errors.py
	.venv/bin/python -m pytest -q tests

test-fast: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/python -m pytest -q -m "not slow" tests

bench: setup
	.venv/bin/python benchmarks/baseline.py

clean:
	rm -rf out .pytest_cache
