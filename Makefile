# bannet: `make book` builds the book from committed outputs; `make test` passes the tests.
# Both set up .venv first (pip install -r requirements.txt, then bannet itself in editable mode).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export BANNET_PROFILE ?= smoke

.PHONY: setup book test unit notebooks browser clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

book: setup
	$(BIN)/jupyter-book build . -W -n --keep-going

# pytest's exit 5 (nothing collected) is a failure here, said plainly.
test: book
	$(BIN)/ruff check .
	$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: check testpaths"; fi; exit $$status

unit: setup
	$(BIN)/python -m pytest tests

notebooks: setup
	$(BIN)/python -m pytest notebooks book

clean:
	rm -rf _build
