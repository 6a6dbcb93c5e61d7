# Two commands: `make up` runs the whole stack on this machine, `make test` runs every check.
# Both bootstrap what they need: uv (into .tools/, from PyPI) and the workspace venv (.venv/).

PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --all-packages

.PHONY: up test check lint typecheck pytest sync format clean wheelhouse images

up: sync
	$(RUN) vigil up

test: check

check: lint typecheck pytest

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: sync
	$(RUN) mypy

pytest: sync
	$(RUN) pytest $(PYTEST_ARGS)

format: sync
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

sync: $(UV)
	$(UV) sync --frozen --all-packages

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv

# Container images for compose.yaml (deploy/images.sh says which base images it uses).
wheelhouse: $(UV)
	UV=$(UV) deploy/wheelhouse.sh

images: $(UV)
	UV=$(UV) deploy/images.sh

clean:
	rm -rf .venv .tools .vigil .pytest_cache .mypy_cache .ruff_cache build
