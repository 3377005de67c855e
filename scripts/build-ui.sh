#!/usr/bin/env bash
# Builds the web UI (web/) into podlog/web/static/, which ships inside the Python package: npm packages from
# the lockfile (npm ci), a type check, then esbuild. Needs Node.js 18+ and npm.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null; then
  echo "podlog: npm (Node.js 18 or newer) is needed to build the web UI" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent check
npm run --silent build
