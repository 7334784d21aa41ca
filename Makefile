# Two commands for a newcomer: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run tail test lint install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# The demo, asked for by name: every simulator here approves payments without moving money, and
# webhooks may go to plain http on this machine (`make tail`). Production sets none of these.
DEMO_ENV := PRODUCTION_API_URL=simulator SANDBOX_PROVIDER=on CONSOLE_SECURE_COOKIE=false \
	STRIPE_API_URL=simulator YOOKASSA_API_URL=simulator CLOUDPAYMENTS_API_URL=simulator \
	WEBHOOK_ALLOW_HTTP=true WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8,::1/128

# The HTTP API, the poller and the dispatcher in one process (`paygate run`).
run: $(STAMP)
	env $(DEMO_ENV) $(BIN)/paygate demo init
	env $(DEMO_ENV) $(BIN)/paygate run

# In a second terminal while `make run` serves: prints every webhook the demo delivers, verified.
tail: $(STAMP)
	env $(DEMO_ENV) $(BIN)/paygate webhooks tail

# Types and lint first: each names the file and line at fault, before the longer suite runs.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

# Paygate next to the floor on the local PostgreSQL (as `make test` needs it); about 5 minutes.
# wrk (Debian package) generates the load when it can be installed; an aiohttp script otherwise.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || \
		echo "bench: wrk is not installed; the aiohttp load generator runs instead" >&2
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
