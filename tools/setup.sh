#!/usr/bin/env bash
# Set up a fresh Debian machine for Tandem: uv, the workspace, RabbitMQ, PostgreSQL, Tryton.
# Idempotent: installs only what is absent, starts only what is stopped.
#   tools/setup.sh            everything
#   tools/setup.sh python     uv and the workspace only
#   tools/setup.sh services   RabbitMQ and PostgreSQL only
#   tools/setup.sh tryton     the Tryton ERP (a virtualenv under .tandem/tryton)
#   tools/setup.sh deploy     podman (images), promtool, checkov (a virtualenv under .tandem/tools), kubectl
#   tools/setup.sh tracing    the Phoenix trace store (a virtualenv under .tandem/tools)
#   tools/setup.sh browser    Debian's chromium (the console's browser test)
set -euo pipefail
cd "$(dirname "$0")/.."

what="${1:-all}"
export PATH="$HOME/.local/bin:$PATH"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_UPDATED=""

log() { printf '[setup] %s\n' "$*"; }

apt_install() {
  if [ -z "$APT_UPDATED" ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return; fi
  log "installing uv from PyPI"
  local venv="$HOME/.local/share/tandem/uv"
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    apt_install python3-venv python3-pip
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet uv
  mkdir -p "$HOME/.local/bin"
  ln -sf "$venv/bin/uv" "$HOME/.local/bin/uv"
}

ensure_workspace() {
  log "syncing the uv workspace"
  uv sync --all-packages --frozen --quiet
}

# Every rabbitmqctl call is bounded: a node that is up but wedged answers nothing, and an
# unbounded call would hang the whole run instead of failing it with a reason.
ctl() { timeout 60 "$@"; }

rabbitmq_answers() {
  # The management API answers, and a vhost (what every test makes) is created and deleted.
  local api="http://127.0.0.1:15672/api" probe="tandem-setup-probe"
  curl -fsS -m 5 -u guest:guest "$api/overview" >/dev/null 2>&1 || return 1
  curl -fsS -m 20 -u guest:guest -X PUT "$api/vhosts/$probe" >/dev/null 2>&1 || return 1
  curl -fsS -m 20 -u guest:guest -X DELETE "$api/vhosts/$probe" >/dev/null 2>&1 || return 1
}

ensure_rabbitmq() {
  command -v curl >/dev/null 2>&1 || apt_install curl
  if ! command -v rabbitmqctl >/dev/null 2>&1; then
    log "installing RabbitMQ"
    apt_install rabbitmq-server
  fi
  local answered=0
  ctl rabbitmqctl -q status >/dev/null 2>&1 || answered=$?
  if [ "$answered" -eq 124 ]; then
    log "RabbitMQ's node runs but does not answer rabbitmqctl within 60 s (wedged):" \
      "stop it and start it again (rabbitmq-server -detached)" >&2
    return 1
  fi
  if [ "$answered" -ne 0 ]; then
    log "starting RabbitMQ"
    $SUDO rabbitmq-server -detached
    ctl rabbitmqctl -q await_startup
  fi
  if ! ctl rabbitmq-plugins -q list -e rabbitmq_management | grep -q rabbitmq_management; then
    log "enabling the RabbitMQ management plugin (vhosts per test)"
    $SUDO timeout 120 rabbitmq-plugins -q enable rabbitmq_management >/dev/null
  fi
  # Partitioned consumer groups route through an x-consistent-hash exchange (docs/adr/0008).
  if ! ctl rabbitmq-plugins -q list -e rabbitmq_consistent_hash_exchange \
      | grep -q rabbitmq_consistent_hash_exchange; then
    log "enabling the RabbitMQ consistent-hash exchange plugin (partitioned consumers)"
    $SUDO timeout 120 rabbitmq-plugins -q enable rabbitmq_consistent_hash_exchange >/dev/null
  fi
  for _ in $(seq 1 60); do
    rabbitmq_answers && return
    sleep 1
  done
  log "RabbitMQ on 127.0.0.1 does not create a vhost within 20 s (management API :15672):" \
    "the node runs but does not serve; see rabbitmq-diagnostics status" >&2
  return 1
}

TRYTON_HOME="${TANDEM_TRYTON_HOME:-$PWD/.tandem/tryton}"
TRYTON_PACKAGES=(
  'trytond==8.2.*' 'proteus==8.2.*' 'trytond-project==8.2.*' 'trytond-timesheet==8.2.*'
  'trytond-project-invoice==8.2.*' 'trytond-account-invoice==8.2.*'
  'trytond-timesheet-cost==8.2.*' 'trytond-project-revenue==8.2.*'
)

ensure_tryton() {
  # A real ERP for tests and demos, in its own virtualenv: its dependencies stay out of ours.
  if [ -x "$TRYTON_HOME/venv/bin/trytond" ]; then return; fi
  log "installing Tryton 8.2 into $TRYTON_HOME/venv"
  mkdir -p "$TRYTON_HOME"
  uv venv --quiet --python 3.11 "$TRYTON_HOME/venv"
  uv pip install --quiet --python "$TRYTON_HOME/venv/bin/python" "${TRYTON_PACKAGES[@]}"
}

CHECKOV_HOME="$PWD/.tandem/tools/checkov"

ensure_deploy_tools() {
  # Images are built and run with podman (no Docker engine); debootstrap makes the base image.
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  # promtool (Debian's prometheus package) checks and unit-tests the chart's alert rules.
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} (container images)"
    apt_install "${missing[@]}"
  fi
  # checkov pins old libraries: it lives in a virtualenv of its own.
  if [ ! -x "$CHECKOV_HOME/bin/checkov" ]; then
    log "installing checkov into $CHECKOV_HOME"
    uv venv --quiet --python 3.11 "$CHECKOV_HOME"
    uv pip install --quiet --python "$CHECKOV_HOME/bin/python" 'checkov>=3.2,<4'
  fi
  # kustomize comes with kubectl; Debian's own kubectl is too old, so only a configured
  # Kubernetes or Google Cloud apt source provides it.
  if ! command -v kubectl >/dev/null 2>&1; then
    log "installing kubectl (kustomize) from the configured apt sources"
    apt_install kubectl || log "kubectl is not in any configured apt source: the k8s/ tests will fail" >&2
  fi
}

PHOENIX_HOME="$PWD/.tandem/tools/phoenix"

ensure_tracing() {
  # No Jaeger, Tempo or collector can be installed here: Phoenix is a real trace store that
  # takes OTLP/HTTP. Its dependencies are many and pinned: a virtualenv of its own.
  if [ -x "$PHOENIX_HOME/bin/phoenix" ]; then return; fi
  log "installing arize-phoenix into $PHOENIX_HOME (about 80 s)"
  uv venv --quiet --python 3.11 "$PHOENIX_HOME"
  uv pip install --quiet --python "$PHOENIX_HOME/bin/python" 'arize-phoenix==20.26.1'
}

ensure_browser() {
  # Debian's chromium, driven by Playwright: never `playwright install`, which cannot
  # download its own browser here.
  if [ -x /usr/bin/chromium ]; then return; fi
  log "installing chromium (the console's browser test)"
  apt_install chromium
}

pg_ok() { psql "postgresql://postgres:postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
  fi
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    log "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  fi
  for _ in $(seq 1 30); do
    pg_ok && return
    # A fresh install asks for a password on TCP: give postgres the local development one.
    $SUDO runuser -u postgres -- psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || true
    sleep 1
  done
  log "PostgreSQL does not accept postgres:postgres on 127.0.0.1:5432" >&2
  return 1
}

case "$what" in
  python) ensure_uv; ensure_workspace ;;
  services) ensure_rabbitmq; ensure_postgres ;;
  tryton) ensure_uv; ensure_tryton ;;
  deploy) ensure_uv; ensure_deploy_tools ;;
  tracing) ensure_uv; ensure_tracing ;;
  browser) ensure_browser ;;
  all)
    ensure_uv; ensure_workspace; ensure_rabbitmq; ensure_postgres; ensure_tryton
    ensure_deploy_tools; ensure_tracing; ensure_browser
    ;;
  *) echo "usage: $0 [all|python|services|tryton|deploy|tracing|browser]" >&2; exit 2 ;;
esac
log "ready ($what)"
