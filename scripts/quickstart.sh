#!/usr/bin/env bash
# Sets up podlog in .venv and runs the main job: the agent on examples/demo.yaml, tailing a
# directory that examples/demo_writer.py keeps busy. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e . >/dev/null
bash scripts/build-ui.sh >/dev/null  # the web UI (npm ci + build into podlog/web/static/)
export DEMO_DIR="${DEMO_DIR:-$PWD/demo-data}"
mkdir -p "$DEMO_DIR"
.venv/bin/python examples/demo_writer.py "$DEMO_DIR" &
WRITER=$!
trap 'kill $WRITER 2>/dev/null || true' EXIT
echo "podlog: demo writer -> $DEMO_DIR; agent output -> stdout and $DEMO_DIR/out/" >&2
.venv/bin/podlog agent -c examples/demo.yaml
