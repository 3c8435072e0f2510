# Bootstraps everything from a bare python3: a local .venv with uv, then uv installs the rest
# (copier, nox, pytest ... from pyproject.toml's dependency groups).
BOOTSTRAP := .cache/bootstrap
UV := $(BOOTSTRAP)/bin/uv
NOX := .venv/bin/nox

.PHONY: demo test test-fast lint benchmark docs clean

demo: $(NOX)  ## Render the template with its defaults into demo/ and run its memory sessions
	$(NOX) -s demo

test: $(NOX)  ## The whole test suite (what CI runs)
	$(NOX) -s tests

test-fast: $(NOX)  ## The fast tests only (no nox sessions inside renders)
	$(NOX) -s tests -- -m "not slow"

lint: $(NOX)
	$(NOX) -s lint

benchmark: $(NOX)  ## Render time, time to a green memtest, nox overhead (medians)
	$(NOX) -s benchmark

docs: $(NOX)  ## The documentation site, strict, into docs/_build/html (ARGS=--serve: serve it)
	$(NOX) -s docs $(if $(ARGS),-- $(ARGS))

$(NOX): pyproject.toml uv.lock
	test -x $(UV) || { python3 -m venv $(BOOTSTRAP) && $(BOOTSTRAP)/bin/python -m pip install --quiet uv; }
	$(UV) sync --locked
	touch $(NOX)

clean:
	rm -rf .cache .venv .nox demo docs/_build
