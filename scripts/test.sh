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
  # Real servers the tests run against (ClickHouse output); started by the tests themselves.
  if ! command -v clickhouse-server >/dev/null && ! command -v clickhouse >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null || \
      echo "note: clickhouse-server could not be installed; its tests will skip" >&2
  fi
  # Debian's Chromium for the web UI tests (Playwright drives it; Playwright's own browsers are not downloaded).
  if ! command -v chromium >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
      echo "note: chromium could not be installed; the web UI tests will skip" >&2
  fi
fi
# The web UI (npm ci from the lockfile, then the build into podlog/web/static/).
bash scripts/build-ui.sh
.venv/bin/ruff check podlog tests bench
.venv/bin/podlog docs --check --out docs/reference
exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout 600 "$@"
