# `make test` and `make demo` do all the set-up on a fresh clone, idempotently.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-large demo benchmark clean

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	# torch first and pinned: the CPU build; a newer torch would pull CUDA packages
	$(PYTHON) -m pip install --quiet torch==2.13.0
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# the suite on all three backends, one process each, two at a time
test: $(STAMP)
	$(PYTHON) tools/run_tests.py --jobs 2 -q

# the slow tests as well
test-large: $(STAMP)
	$(PYTHON) tools/run_tests.py -q --run-large

demo: $(STAMP)
	$(PYTHON) examples/quickstart.py

benchmark: $(STAMP)
	for suite in ops heads models macs data export; do $(PYTHON) tools/benchmark_$$suite.py || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
