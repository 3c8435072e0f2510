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

# The peer measured side by side when a copy of it is there (docs/benchmarks.md says how).
PEER ?= ../shared/peers/scientific-python-cookie.bundle
PEER_DATA := project_name=demo-pkg org=org full_name=A email=a@b.c project_short_description=d \
	license=BSD backend=hatch docs=sphinx vcs=false

benchmark: $(NOX)  ## Render time, time to green (beside the peer's), nox overhead (medians)
	$(NOX) -s benchmark $(if $(wildcard $(PEER)),-- --peer $(PEER) $(foreach item,$(PEER_DATA),--peer-data $(item)))

docs: $(NOX)  ## The documentation site, strict, into docs/_build/html (ARGS=--serve: serve it)
	$(NOX) -s docs $(if $(ARGS),-- $(ARGS))

$(NOX): pyproject.toml uv.lock
	test -x $(UV) || { python3 -m venv $(BOOTSTRAP) && $(BOOTSTRAP)/bin/python -m pip install --quiet uv; }
	$(UV) sync --locked
	touch $(NOX)

clean:
	rm -rf .cache .venv .nox demo docs/_build
