#!/usr/bin/env bash
# Sets up podlog in .venv and runs the main job: `podlog up`, i.e. a demo workload writing Kubernetes container
# logs, the agent collecting them into the embedded store, and the search UI/API on http://127.0.0.1:8080/.
# Ctrl-C stops it. Extra arguments go to `podlog up` (e.g. --path '/var/log/app/*.log', -c fluent.conf).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# Install once, and again only when pyproject.toml changes (a restart should not spend 10 s in pip).
stamp=.venv/.podlog-installed
want="$(sha256sum pyproject.toml)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  if ! .venv/bin/python -m pip install -q -e . >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
# The web UI's assets (npm, lockfile) are built by scripts/build-ui.sh when the checkout has it.
if [ -f scripts/build-ui.sh ]; then
  bash scripts/build-ui.sh || echo "podlog: the UI build failed; the API still works" >&2
fi
exec .venv/bin/podlog up --data "${PODLOG_DATA:-$PWD/podlog-data}" "$@"
