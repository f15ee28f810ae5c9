#!/usr/bin/env bash
# Entry point of the HMS browser test: installs what is missing (Debian's
# chromium, node_modules from package-lock.json), then runs the test.
# Usage: tests/browser/run.sh API_BASE_URL    (exit 0 only if every check passed)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
api="${1:-}"
if [ -z "$api" ]; then
  echo "usage: $0 API_BASE_URL   (e.g. $0 http://127.0.0.1:3000)" >&2
  exit 2
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else echo "need root to run: $*" >&2; return 1
  fi
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node and npm (Node.js >= 20) are needed and were not found" >&2
  exit 2
fi

if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold chromium </dev/null
fi

lock_sum="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
stamp="$here/node_modules/.hms-lock.sha256"
if [ ! -d "$here/node_modules/playwright-core" ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sum" ]; then
  echo "installing node modules (npm ci)"
  mkdir -p "$HOME/.cache/hms/npm"
  (cd "$here" && npm ci --no-audit --no-fund --cache "$HOME/.cache/hms/npm" </dev/null)
  printf '%s\n' "$lock_sum" >"$stamp"
fi

exec node "$here/run.mjs" "$api"
