# `make demo` and `make test` each create or refresh .venv/ and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Until the scorer exists: simulate a small mixed data set, then show its co-share network.
demo: $(STAMP)
	$(BIN)/coordetect simulate --scenario mixed --accounts 2000 --seed 7 --out demo-output/data
	$(BIN)/coordetect network demo-output/data/events.parquet --signal share --window 60 --min-weight 3 \
		--record demo-output/share-network.run.json --out demo-output/share-network.gexf
	@echo "Open demo-output/share-network.gexf in Gephi; the ground truth is demo-output/data/truth.parquet."

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) demo-output
