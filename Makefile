# Two commands: `make up` runs the whole stack on this machine, `make test` runs every check.
# Both bootstrap what they need: uv (into .tools/, from PyPI), the workspace venv (.venv/),
# and the web dashboard's packages (web/node_modules/, `npm ci` from the lockfile).

PYTHON ?= python3
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
RUN := $(UV) run --frozen --all-packages
NPM := npm --prefix web --no-audit --no-fund
WEB_SOURCES := $(shell find web/src web/public web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)

.PHONY: up test check lint typecheck pytest webtest web sync format clean wheelhouse images

# The gateway serves the dashboard built here, unless VIGIL_GATEWAY_WEB_DIR says otherwise.
# Without npm the stack runs all the same, without the dashboard: Python is all it needs.
up: sync
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory web; \
	else echo "vigil: no npm, so no dashboard (apt-get install nodejs npm); the rest runs"; fi
	@if [ -z "$${VIGIL_GATEWAY_WEB_DIR+set}" ] && [ -f web/dist/index.html ]; then \
		export VIGIL_GATEWAY_WEB_DIR="$(CURDIR)/web/dist"; fi; $(RUN) vigil up

test: check

check: lint typecheck webtest pytest

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: sync
	$(RUN) mypy

# The dashboard's unit tests (Vitest) and its type check.
webtest: web/node_modules/.package-lock.json
	cd web && npx tsc --noEmit && npx vitest run

# The browser tests need the built dashboard too.
pytest: sync web
	$(RUN) python -m tests.tiers $(PYTEST_ARGS)

web: web/dist/index.html

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npx vite build --logLevel warn

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	$(NPM) ci
	touch $@

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

images: $(UV) web
	UV=$(UV) deploy/images.sh

clean:
	rm -rf .venv .tools .vigil .pytest_cache .mypy_cache .ruff_cache web/node_modules web/dist build
