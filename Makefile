# Two commands do everything: `make test` and `make demo`. Both create .venv if missing.
# `make quick` is the edit-test loop: the same suite without the tests marked slow.
# Both run the tests in parallel (PYTEST_WORKERS, below).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# What the installed package is built from (pyproject.toml maps these into `hubnet`).
SOURCES := $(shell find __init__.py testing.py vocab node crawler examples/queries -type f \
                    -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: test quick demo venv clean browser virtuoso

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip "setuptools>=77" wheel

# The tests run against the INSTALLED package (not the source folders), so it is reinstalled,
# non-editable, whenever a source file changes: a few seconds, without build isolation.
$(STAMP): $(BIN)/python pyproject.toml $(SOURCES)
	rm -rf build
	$(BIN)/python -m pip install --quiet "setuptools>=77" wheel
	$(BIN)/python -m pip install --quiet --no-build-isolation '.[test]'
	rm -rf build
	touch $(STAMP)

venv: $(STAMP)

# The suite runs on PYTEST_WORKERS pytest-xdist workers, one test file per worker at a time (module
# fixtures are built once) and the browser tests last on one worker (tests/conftest.py says why).
# Most tests wait on loopback servers and subprocesses, so 4 workers pay even on 2 cores.
# Serial: `make test PYTEST_ARGS="-n 0"` (a later -n wins); more output: PYTEST_ARGS="--durations=30".
PYTEST_WORKERS ?= 4
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: $(STAMP) browser virtuoso
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(XDIST) $(PYTEST_ARGS)

# The real-browser tests (tests/integration/test_browser.py, marker `browser`) drive Debian's chromium
# with Playwright. As root with apt-get this installs it when missing; otherwise it says how, and those
# tests skip saying the same. Playwright's own browser download cannot work offline, so it is not used.
CHROMIUM ?= /usr/bin/chromium
browser:
	@[ -x $(CHROMIUM) ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "browser: installing chromium with apt-get (for the real-browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "browser: $(CHROMIUM) not found; the browser tests will skip. To run them: sudo apt-get install chromium"; \
	  fi; }

# The remote-store tests (store_backend "virtuoso", tests/virtuoso_server.py) start a throwaway
# Virtuoso from Debian's package on loopback ports. As root with apt-get this installs it when
# missing; otherwise it says how, and those tests skip saying the same.
VIRTUOSO ?= /usr/bin/virtuoso-t
virtuoso:
	@[ -x $(VIRTUOSO) ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "virtuoso: installing virtuoso-opensource-7-bin with apt-get (for the remote-store tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtuoso-opensource-7-bin >/dev/null; \
	  else \
	    echo "virtuoso: $(VIRTUOSO) not found; the remote-store tests will skip. To run them: sudo apt-get install virtuoso-opensource-7-bin"; \
	  fi; }

# The example federation (examples/federation/): 19 groups on this computer, crawled, and an
# aggregator at http://127.0.0.1:8080/. Ctrl-C stops everything. Other ports: DEMO_ARGS="--help".
demo: $(STAMP)
	$(BIN)/python examples/federation/run.py $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info

# Benchmarks (bench/README.md): `make bench` is the full run (10k-group crawl, 100k ingest and
# queries; ~20 minutes on 2 cores) and rewrites bench/results.md. BENCH_ARGS="--quick" for a smoke run.
# It wants nginx as the static server; as root on Debian/Ubuntu it installs nginx-light, otherwise
# it says how and falls back to the slower Python server (results.md names the server used).
.PHONY: bench
bench: $(STAMP)
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench: installing nginx-light with apt-get (a fast static server for the federation)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else \
	    echo "bench: nginx not found. For full-speed numbers: sudo apt-get install nginx-light"; \
	    echo "bench: continuing with the Python fallback server."; \
	  fi; }
	$(BIN)/python -m bench $(BENCH_ARGS)
