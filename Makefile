# Tandem: a thin table of contents. `make run` runs the suite, `make test` passes the tests.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
export TEST_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export TEST_DATABASE_URL ?= postgresql://postgres:postgres@127.0.0.1:5432/postgres

.DEFAULT_GOAL := help
.PHONY: help setup run systems test images bench-runtime bench-month-end bench-scale bench-quote-to-cash bench-billing-code bench-staffing bench-billing bench-observability bench-suite check fmt contracts slo-rules

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup:  ## install uv, the workspace, RabbitMQ and PostgreSQL (if absent) and start them
	@tools/setup.sh all

run: setup  ## a firm's month across all five services, CRM opportunity to invoice posted in Tryton
	cd tools && uv run python -m month

systems: setup  ## start the sandbox CRM/PSA/HRIS/ERP (seeded firm) and a real Tryton ERP on 127.0.0.1
	uv run python tools/systems.py

test: setup  ## run every test; real-service tests use the local RabbitMQ and PostgreSQL
	uv run pytest

images:  ## build every service's image and the sandbox's with podman (base made locally) and print sizes
	@tools/setup.sh deploy
	docker/images.sh

bench-runtime: setup  ## measure the messaging runtime against plain aio-pika: events/s, latency, RSS
	uv run python tools/bench_runtime.py

bench-month-end: setup  ## month-end burst PSA -> time-expense -> ERP (sandbox, Tryton, outage) beside the raw ceiling
	cd tools && uv run python -m month.bench

bench-scale: setup  ## time-expense's consumer at 1, 2, 3 replicas on one backlog, a SIGKILL rebalance, per-entry costs
	uv run python tools/bench_scale.py

bench-quote-to-cash: setup  ## project-sync: opportunities committed in a burst and steadily -> ProjectActivated, beside the raw ceiling
	uv run python tools/bench_quote_to_cash.py

bench-billing-code: setup  ## project-sync's billing-code checks and set-up validations, open loop at 200/s, beside /healthz
	uv run python tools/bench_billing_code.py

bench-staffing: setup  ## staffing-sync: options for requests at 220/2,000/10,000 consultants (p50/p99, req/s, RSS), onboarding hires/s
	uv run python tools/bench_staffing.py

bench-billing: setup  ## billing-readiness at month-end: 20,000 TimePosted -> charges/s, latency, RSS; invoices/min into the sandbox ERP and Tryton, beside the raw ceiling
	uv run python tools/bench_billing.py

bench-observability: setup  ## observability: a month's 20,000 events recorded as steps beside the raw ceiling, KPI lag, /v1 reads at 1M steps (p50/p99), bytes per step
	uv run python tools/bench_observability.py

bench-suite: setup  ## the scenario firm's month through all five services at 220 and 1,000 consultants: events/s beside the raw ceiling, CPU and RSS per process, commit -> invoice, approval -> invoice line p50/p99, the limiting service
	cd tools && uv run python -m month.bench_suite

check:  ## lint, format check and strict type check
	@tools/setup.sh python
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy

fmt:  ## fix lint and formatting where safe
	uv run ruff check --fix .
	uv run ruff format .

contracts:  ## regenerate docs/contracts (JSON Schema per event, AsyncAPI 3.0)
	uv run python tools/export_contracts.py

slo-rules:  ## regenerate charts/tandem/files/slo-rules.yaml from observability's SLOs
	uv run python tools/render_slo_rules.py
