#!/usr/bin/env bash
# Builds the web UI (web/) into podlog/web/static/, which ships inside the Python package: npm packages from
# the lockfile (npm ci), a type check, then esbuild. Needs Node.js 18+ and npm.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v npm >/dev/null; then
  echo "podlog: npm (Node.js 18 or newer) is needed to build the web UI" >&2
  exit 1
fi
# Built already from these very sources: nothing to do (a restart of the quickstart should not wait for npm).
stamp=../podlog/web/static/.built-from
want="$(cat package-lock.json build.mjs tsconfig.json src/* | sha256sum)"
if [ -f ../podlog/web/static/app.js ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent check
npm run --silent build
echo "$want" > "$stamp"
