#!/usr/bin/env bash
# HMS backend: local run, tests, build and deployment.
#
#   ./setup.sh local     run the API on http://127.0.0.1:3000 against local emulators
#   ./setup.sh check     run the whole test suite (what CI runs)
#
# Everything it needs is installed on first use: a Python venv in .venv
# (moto, cfn-lint) and the s3s-fs S3 server under ~/.cache/hms.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
CACHE="${HMS_CACHE:-$HOME/.cache/hms}"
S3S_VERSION="0.14.1"
S3S_BIN="$CACHE/s3s-fs/bin/s3s-fs"
LOCAL_PORT="${PORT:-3000}"
DDB_PORT="${HMS_DDB_PORT:-5005}"
S3_PORT="${HMS_S3_PORT:-8014}"
LOCAL_KEY="hmslocal"
LOCAL_SECRET="hmslocalsecret"

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"
}

ensure_venv() {
  need python3 "install Python 3.11+ with pip and venv (e.g. apt-get install python3 python3-venv)"
  local stamp="$VENV/.requirements.sha"
  local want
  want="$(sha256sum requirements-dev.txt | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  say "installing Python tools into .venv (moto, cfn-lint)"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >"$stamp"
}

ensure_s3s() {
  if [[ -x "$S3S_BIN" ]]; then
    return
  fi
  need cargo "install Rust from https://rustup.rs"
  say "installing s3s-fs $S3S_VERSION (an S3 server that verifies signatures; once, ~2 min)"
  cargo install "s3s-fs@$S3S_VERSION" --features binary --locked --root "$CACHE/s3s-fs" --quiet
}

wait_port() {
  local port="$1" what="$2"
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  die "$what did not start on 127.0.0.1:$port"
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}

# Starts moto (DynamoDB, CloudFront) and s3s-fs (S3) on 127.0.0.1 and exports
# the environment that points the API at them.
start_emulators() {
  local data="$ROOT/.cache/s3-data"
  mkdir -p "$data"
  "$VENV/bin/python" tests/emulator/moto_serial.py --port "$DDB_PORT" >"$ROOT/.cache/moto.log" 2>&1 &
  PIDS+=($!)
  "$S3S_BIN" --host 127.0.0.1 --port "$S3_PORT" --access-key "$LOCAL_KEY" --secret-key "$LOCAL_SECRET" "$data" \
    >"$ROOT/.cache/s3s.log" 2>&1 &
  PIDS+=($!)
  wait_port "$DDB_PORT" "moto"
  wait_port "$S3_PORT" "s3s-fs"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
  export AWS_ENDPOINT_URL_CLOUDFRONT="http://127.0.0.1:$DDB_PORT"
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT"
  export AWS_ACCESS_KEY_ID="$LOCAL_KEY" AWS_SECRET_ACCESS_KEY="$LOCAL_SECRET" AWS_REGION="${AWS_REGION:-us-east-1}"
  export TABLE_NAME="${TABLE_NAME:-HMS}" FILES_BUCKET="${FILES_BUCKET:-hms-files-local}"
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

cmd_local() {
  ensure_venv
  ensure_s3s
  mkdir -p .cache
  say "building the API"
  cargo build --quiet --bin hms-local
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_emulators
  cat <<MSG
==> HMS API on http://127.0.0.1:$LOCAL_PORT (DynamoDB/CloudFront: moto :$DDB_PORT, S3: s3s-fs :$S3_PORT)
    try:
      curl -s http://127.0.0.1:$LOCAL_PORT/health
      curl -s -X POST http://127.0.0.1:$LOCAL_PORT/patients -H 'content-type: application/json' \\
        -d '{"name":"Test Patient","registration":{"mrn":"MRN-001","scheme":"GENERAL","department":"Surgery"}}'
      curl -s http://127.0.0.1:$LOCAL_PORT/patients/MRN-001/documents
    Ctrl-C stops the API and the emulators.
MSG
  "$ROOT/target/debug/hms-local" --provision --addr "127.0.0.1:$LOCAL_PORT" &
  PIDS+=($!)
  wait "${PIDS[-1]}"
}

cmd_check() {
  ensure_venv
  ensure_s3s
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "cargo clippy"
  cargo clippy --quiet --all-targets -- -D warnings
  say "cargo test (unit and integration, against local emulators)"
  HMS_PYTHON="$VENV/bin/python" HMS_S3S_FS="$S3S_BIN" cargo test --quiet
}

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  local) cmd_local ;;
  check) cmd_check ;;
  -h | --help | help | "") usage ;;
  *) usage; exit 2 ;;
esac
