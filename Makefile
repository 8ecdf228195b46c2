# The project's verbs. Each creates the virtual environment when it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench bench-small lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/mdhub serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mdhub
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy mdhub

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench --rows 1000000

bench-small: $(STAMP)
	$(BIN)/python -m bench --rows 50000

# Rewrite requirements.lock from the virtual environment (setuptools included: the editable
# install needs a recent one); run after installing or upgrading a dependency in .venv.
lock:
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -E '^(pip|wheel)==' > requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info
