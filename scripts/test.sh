#!/usr/bin/env bash
# The whole test suite, on a fresh machine: Python deps in .venv, Debian packages when root, lint, docs, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Real servers and tools the tests run against, each started by its tests (which skip, saying so, without it):
  # ClickHouse (output), Prometheus and mtail (metrics from logs), rsyslog (syslog input), kubectl (deploy/),
  # Chromium (web UI; Playwright's own browsers are never downloaded).
  want=()
  command -v clickhouse-server >/dev/null || command -v clickhouse >/dev/null || want+=(clickhouse-server clickhouse-client)
  command -v prometheus >/dev/null || want+=(prometheus)
  command -v mtail >/dev/null || want+=(mtail)
  command -v rsyslogd >/dev/null || [ -x /usr/sbin/rsyslogd ] || want+=(rsyslog)
  command -v kubectl >/dev/null || want+=(kubectl)
  command -v chromium >/dev/null || want+=(chromium)  # the web UI tests (Playwright drives Debian's Chromium)
  if [ ${#want[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null 2>&1; then
      for pkg in "${want[@]}"; do  # one at a time: a missing package must not keep the others out
        [ "$pkg" = kubectl ] && alt=kubernetes-client || alt=""  # Debian's own kubectl, where no kubectl package is
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 || \
          { [ -n "$alt" ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$alt" >/dev/null 2>&1; } || \
          echo "note: $pkg could not be installed; the tests that need it will skip" >&2
      done
    fi
  fi
fi
# The web UI (npm ci from the lockfile, then the build into podlog/web/static/).
bash scripts/build-ui.sh
.venv/bin/ruff check podlog tests bench
.venv/bin/python -m mypy  # podlog/ (files and settings in pyproject.toml)
.venv/bin/podlog docs --check --out docs/reference
exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout 600 "$@"
