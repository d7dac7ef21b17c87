# Each target sets up what it needs itself, so that both work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_TOOLS := promtool:prometheus prometheus:prometheus amtool:prometheus-alertmanager prometheus-alertmanager:prometheus-alertmanager openssl:openssl chattr:e2fsprogs /usr/lib/postgresql/15/bin/pg_ctl:postgresql

.PHONY: demo test lint typecheck pytest debian-tools node-tools monitoring dashboards bench mutation clean deploy-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# Debian packages the tests use, installed when missing and when we are root (a tool is
# a command on PATH or a path: PostgreSQL's initdb and pg_ctl are not on PATH).
debian-tools:
	@missing=""; for pair in $(DEBIAN_TOOLS); do \
	  tool=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing (not root: the tests that need them are skipped)"; \
	  fi; \
	fi

demo: $(STAMP)
	$(BIN)/sms-delivery-exporter demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy cannot follow the editable install's import hook: it reads the packages
# through symlinks that carry their import names.
typecheck: $(STAMP)
	@mkdir -p .typecheck
	@ln -sfn ../exporter .typecheck/sms_delivery_exporter
	@ln -sfn ../plugins .typecheck/sms_delivery_providers
	$(BIN)/mypy
	$(BIN)/mypy -p monitoring

# TypeScript and Grafana's schema types, to type-check the dashboards (npm, pinned by
# grafana/typecheck/package-lock.json), installed when missing.
TYPECHECK := grafana/typecheck
NODE_STAMP := $(TYPECHECK)/node_modules/.package-lock.json
$(NODE_STAMP): $(TYPECHECK)/package.json $(TYPECHECK)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --prefix $(TYPECHECK) --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)
node-tools: $(NODE_STAMP)

pytest: $(STAMP) debian-tools node-tools
	$(BIN)/pytest -q

test: lint typecheck pytest

# The Dockerfile, the compose files and the Kubernetes manifests alone, validated
# offline (no Docker engine or cluster needed; tests/test_deploy.py).
deploy-check: $(STAMP) debian-tools
	$(BIN)/pytest -q tests/test_deploy.py

# Performance figures (minutes; see bench/README.md). BENCH=throughput,scale,... picks some.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

# Mutation testing of the scheduler, tracker, governor, writer and intake (about an
# hour; not part of `make test`; MUTATE=polling mutates only those). Scores: tests/README.md.
mutation: $(STAMP)
	$(BIN)/pip install --quiet 'mutmut==2.5.1'
	$(BIN)/python -m tests.mutation $(MUTATE)

# Rebuild the rules, their healthy-traffic test and the dashboards from monitoring/.
# Sites set their own: make monitoring JOB_SELECTOR='job="sms"' GRAFANA_URL=https://...
JOB_SELECTOR ?= job="sms-delivery-exporter"
GRAFANA_URL ?= http://localhost:3000
RUNBOOK_URL ?= docs/runbooks.md
monitoring: $(STAMP)
	$(BIN)/python -m monitoring --job-selector '$(JOB_SELECTOR)' \
	  --grafana-url '$(GRAFANA_URL)' --runbook-url '$(RUNBOOK_URL)'
dashboards: monitoring

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .typecheck .mutmut-cache \
	  $(TYPECHECK)/node_modules $(TYPECHECK)/build
