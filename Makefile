# `make demo` and `make test` each create or refresh .venv/ and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean chromium java

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Simulate a small mixed data set, score it, print the flagged clusters and the metrics against the truth.
demo: $(STAMP)
	$(BIN)/coordetect demo --out demo-output

# The report's browser test needs a Chromium; Debian's package is installed when none is on the PATH.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the report's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The Spark engine's tests need a Java runtime; Debian's headless JRE is installed when java is missing.
java:
	@command -v java >/dev/null 2>&1 || { echo "installing Debian's headless Java runtime for the Spark engine's tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

test: $(STAMP) chromium java
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output
