#!/usr/bin/env bash
# HMS backend: local run, tests, build and deployment.
#
#   ./setup.sh local     run the API on http://127.0.0.1:3000 against local emulators
#                        (--seed: load a few demo patients once it is up)
#   ./setup.sh check     run the whole test suite (what CI runs)
#   ./setup.sh full      build and deploy to AWS, then smoke-test the deployed API
#   ./setup.sh build     cargo lambda build (arm64) and sam build
#   ./setup.sh deploy    sam deploy (samconfig.toml; extra args go to sam)
#   ./setup.sh test      curl smoke tests against $FUNCTION_URL or the stack output
#   ./setup.sh info      print the stack outputs
#   ./setup.sh clean     delete the stack (table and bucket are retained) and local build output
#                        (--local: only the local build output)
#   ./setup.sh bench     run the benchmark (writes BENCHMARKS.md)
#
# Everything it needs is installed on first use: a Python venv in .venv
# (moto, cfn-lint), the project's local S3 server (tests/emulator/s3, built
# by cargo) and, for the browser test, Debian's chromium and playwright-core.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
CACHE="${HMS_CACHE:-$HOME/.cache/hms}"
S3_BIN="$ROOT/target/debug/hms-local-s3"
# A CI run builds once, from a clean clone: incremental state would only take disk.
if [[ "${CI:-}" == true ]]; then export CARGO_INCREMENTAL=0; fi
LOCAL_PORT="${PORT:-3000}"
DDB_PORT="${HMS_DDB_PORT:-5005}"
S3_PORT="${HMS_S3_PORT:-8014}"
EVENTS_PORT="${HMS_EVENTS_PORT:-3001}"
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
  want="$(cat requirements-dev.txt requirements-dev.lock | sha256sum | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  say "installing Python tools into .venv (moto, cfn-lint), every version locked and hashed"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  # The lock names every transitive dependency with its hash: nothing else
  # is installed, and a changed file is refused.
  "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps \
    -r requirements-dev.lock
  echo "$want" >"$stamp"
}

# The local S3 (tests/emulator/s3): SigV4 checks, 1024-byte keys, bucket
# CORS and preflights, ObjectCreated events to the ingest.
ensure_s3() {
  need cargo "install Rust from https://rustup.rs"
  cargo build --quiet -p hms-local-s3
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

# Starts moto (DynamoDB, CloudFront, SSM) and the local S3 on 127.0.0.1 and
# exports the environment that points the API at them. The S3 delivers each
# ObjectCreated event under patients/ to the API's ingest port, as the
# deployed bucket does to the S3 event function.
start_emulators() {
  local data="$ROOT/.cache/s3-data"
  mkdir -p "$data"
  "$VENV/bin/python" tests/emulator/moto_serial.py --port "$DDB_PORT" >"$ROOT/.cache/moto.log" 2>&1 &
  PIDS+=($!)
  "$S3_BIN" --host 127.0.0.1 --port "$S3_PORT" --access-key "$LOCAL_KEY" --secret-key "$LOCAL_SECRET" \
    --data "$data" --notify-url "http://127.0.0.1:$EVENTS_PORT/" --notify-prefix patients/ \
    >"$ROOT/.cache/s3.log" 2>&1 &
  PIDS+=($!)
  wait_port "$DDB_PORT" "moto"
  wait_port "$S3_PORT" "the local S3"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DDB_PORT"
  export AWS_ENDPOINT_URL_CLOUDFRONT="http://127.0.0.1:$DDB_PORT"
  export AWS_ENDPOINT_URL_SSM="http://127.0.0.1:$DDB_PORT"
  export AWS_ENDPOINT_URL_S3="http://127.0.0.1:$S3_PORT"
  export AWS_ACCESS_KEY_ID="$LOCAL_KEY" AWS_SECRET_ACCESS_KEY="$LOCAL_SECRET" AWS_REGION="${AWS_REGION:-us-east-1}"
  export TABLE_NAME="${TABLE_NAME:-HMS}" FILES_BUCKET="${FILES_BUCKET:-hms-files-local}"
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# The API and the S3 event ingest, as the Lambdas run them.
start_api() {
  # The ingest's dead-letter queue on the emulator (moto serves SQS too): an
  # event the ingest fails on is kept there, as the deployed on-failure
  # destination keeps it (hms-admin replay-ingest --queue-url ...).
  local dlq
  dlq="$("$VENV/bin/python" -c 'import boto3, os
sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"], region_name=os.environ["AWS_REGION"])
print(sqs.create_queue(QueueName="hms-ingest-dead-letters")["QueueUrl"])')" || die "could not create the local dead-letter queue"
  "$ROOT/target/debug/hms-local" --provision --addr "127.0.0.1:$LOCAL_PORT" \
    --s3-events-addr "127.0.0.1:$EVENTS_PORT" --dead-letters "$dlq" "$@" &
  PIDS+=($!)
}

cmd_local() {
  local seed=false
  for arg in "$@"; do
    case "$arg" in
      --seed) seed=true ;;
      *) die "unknown option $arg (use --seed)" ;;
    esac
  done
  ensure_venv
  mkdir -p .cache
  say "building the API and the local S3"
  cargo build --quiet --bin hms-local
  ensure_s3
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_emulators
  start_api
  wait_port "$LOCAL_PORT" "the local API"
  if $seed; then
    python3 tests/seed.py "http://127.0.0.1:$LOCAL_PORT"
  fi
  cat <<MSG
==> HMS API on http://127.0.0.1:$LOCAL_PORT (DynamoDB/CloudFront: moto :$DDB_PORT, S3: :$S3_PORT, S3 events -> :$EVENTS_PORT)
    try:
      curl -s http://127.0.0.1:$LOCAL_PORT/health
      curl -s -X POST http://127.0.0.1:$LOCAL_PORT/patients -H 'content-type: application/json' \\
        -d '{"name":"Test Patient","registration":{"mrn":"MRN-001","scheme":"GENERAL","department":"Surgery"}}'
      curl -s http://127.0.0.1:$LOCAL_PORT/patients/MRN-001/documents
    demo data: ./setup.sh local --seed (or python3 tests/seed.py http://127.0.0.1:$LOCAL_PORT)
    Ctrl-C stops the API and the emulators.
MSG
  wait "${PIDS[-1]}"
}

cmd_check() {
  ensure_venv
  ensure_s3
  say "cargo fmt --check"
  cargo fmt --all -- --check
  say "cargo clippy"
  cargo clippy --quiet --workspace --all-targets -- -D warnings
  say "template: cfn-lint and reference checks; openapi.yaml validation"
  "$VENV/bin/cfn-lint" template.yaml
  "$VENV/bin/python" tests/template_check.py
  "$VENV/bin/openapi-spec-validator" openapi.yaml
  say "the DynamoDB emulator's item JSON against moto's own serializer"
  "$VENV/bin/python" tests/emulator/moto_serial.py --check
  say "cargo test (unit and integration, against local emulators; the local S3's own tests)"
  HMS_PYTHON="$VENV/bin/python" HMS_LOCAL_S3="$S3_BIN" cargo test --quiet --workspace
  say "smoke tests and the browser test against the local stack"
  mkdir -p .cache
  trap cleanup EXIT
  DDB_PORT="$(free_port)" S3_PORT="$(free_port)" LOCAL_PORT="$(free_port)" EVENTS_PORT="$(free_port)"
  rm -rf "$ROOT/.cache/s3-data"
  start_emulators
  start_api >"$ROOT/.cache/api.log" 2>&1
  wait_port "$LOCAL_PORT" "the local API"
  FUNCTION_URL="http://127.0.0.1:$LOCAL_PORT" cmd_test
  tests/browser/run.sh "http://127.0.0.1:$LOCAL_PORT"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

STACK="${STACK_NAME:-hms}"

# The deploy tools, at the versions this project was built and checked with.
SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
ZIG_VERSION=0.17.0

# The installed version of a Python package of .venv (empty if none).
pip_version() {
  "$VENV/bin/pip" show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

ensure_deploy_tools() {
  ensure_venv
  if [[ "$(pip_version aws-sam-cli)" != "$SAM_CLI_VERSION" ]]; then
    say "installing the AWS SAM CLI $SAM_CLI_VERSION into .venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "aws-sam-cli==$SAM_CLI_VERSION"
  fi
  if [[ "$(pip_version cargo-lambda)" != "$CARGO_LAMBDA_VERSION" || "$(pip_version ziglang)" != "$ZIG_VERSION" ]]; then
    say "installing cargo-lambda $CARGO_LAMBDA_VERSION and zig $ZIG_VERSION into .venv"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIG_VERSION"
  fi
  export PATH="$VENV/bin:$PATH"
}

ensure_aws_credentials() {
  "$VENV/bin/python" - <<'PY' || die "no AWS credentials: run 'aws configure' or set AWS_PROFILE / AWS_ACCESS_KEY_ID, and AWS_REGION"
import boto3, sys
try:
    boto3.client("sts").get_caller_identity()
except Exception as exc:
    print(exc, file=sys.stderr)
    sys.exit(1)
PY
}

cmd_build() {
  ensure_deploy_tools
  if command -v rustup >/dev/null 2>&1; then
    rustup target add aarch64-unknown-linux-gnu >/dev/null
  fi
  say "cargo lambda build --release --arm64 (hms-api, hms-s3-events)"
  cargo lambda build --release --arm64 --bin hms-api --bin hms-s3-events
  say "sam build"
  sam build --beta-features
}

cmd_deploy() {
  ensure_deploy_tools
  ensure_aws_credentials
  local retained
  retained="$(retained_overrides "$@")"
  say "sam deploy (stack $STACK)"
  if [[ -n "$retained" ]]; then
    say "taking over what an earlier stack of this name retained: $retained"
    # shellcheck disable=SC2086 # the overrides are Key=Value words
    sam deploy --stack-name "$STACK" --parameter-overrides $retained "$@"
  else
    sam deploy --stack-name "$STACK" "$@"
  fi
}

# After `./setup.sh clean` the table and the bucket stay (patient data) and
# the stack is gone: a new deploy would fail creating them again. When no
# stack of this name exists but the stage's table or bucket does, this
# prints the overrides that take them over, with the stage's own
# (samconfig.toml's parameter_overrides, then any given on the command line).
retained_overrides() {
  "$VENV/bin/python" - "$STACK" "$@" <<'PY'
import re, shlex, sys
import boto3
from botocore.exceptions import ClientError

stack, args = sys.argv[1], sys.argv[2:]
cf = boto3.client("cloudformation")
try:
    cf.describe_stacks(StackName=stack)
    sys.exit(0)  # the stack exists and owns its table and bucket
except ClientError:
    pass
text = open("samconfig.toml").read()
found = re.search(r'parameter_overrides\s*=\s*"([^"]*)"', text)
words = shlex.split(found.group(1)) if found else []
if "--parameter-overrides" in args:
    words += shlex.split(args[args.index("--parameter-overrides") + 1])
params = dict(w.split("=", 1) for w in words if "=" in w)
stage = params.get("StageName", "dev")
extra = []
table = params.get("TableName") or f"hms-{stage}"
if not params.get("ExistingTableName"):
    try:
        boto3.client("dynamodb").describe_table(TableName=table)
        extra.append(f"ExistingTableName={table}")
    except ClientError:
        pass
sts = boto3.client("sts").get_caller_identity()["Account"]
region = boto3.session.Session().region_name
bucket = params.get("BucketName") or f"hms-files-{sts}-{region}-{stage}"
if params.get("UseExistingBucket") != "true":
    try:
        boto3.client("s3").head_bucket(Bucket=bucket)
        extra += ["UseExistingBucket=true", f"BucketName={bucket}"]
    except ClientError:
        pass
if extra:
    print(" ".join(f"{k}={v}" for k, v in params.items()) + " " + " ".join(extra))
PY
}

stack_output() {
  "$VENV/bin/python" - "$STACK" "$1" <<'PY'
import boto3, sys
stack, key = sys.argv[1], sys.argv[2]
outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
print(next((o["OutputValue"] for o in outputs if o["OutputKey"] == key), ""))
PY
}

cmd_info() {
  ensure_deploy_tools
  ensure_aws_credentials
  sam list stack-outputs --stack-name "$STACK" --output table
}

cmd_clean() {
  rm -rf "$ROOT/.aws-sam" "$ROOT/target/lambda" "$ROOT/.cache/s3-data"
  say "local build output removed"
  if [[ "${1:-}" == "--local" ]]; then
    return
  fi
  ensure_deploy_tools
  ensure_aws_credentials
  say "deleting stack $STACK (the table and the files bucket are retained: patient data)"
  sam delete --stack-name "$STACK"
}

# Smoke tests over HTTP: health, patient create/get, documents, and an upload
# (presign, PUT to S3, attach). Against $FUNCTION_URL, or the stack's output.
cmd_test() {
  need curl "install curl (apt-get install curl)"
  need python3 "install Python 3"
  local base="${FUNCTION_URL:-}"
  if [[ -z "$base" ]]; then
    ensure_deploy_tools
    ensure_aws_credentials
    base="$(stack_output FunctionUrl)"
    [[ -n "$base" ]] || die "no FUNCTION_URL set and no FunctionUrl output on stack $STACK"
  fi
  "$(command -v python3)" "$ROOT/tests/smoke.py" "${base%/}"
}

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  local) cmd_local "${@:2}" ;;
  check) cmd_check ;;
  full) cmd_build && cmd_deploy "${@:2}" && cmd_test ;;
  build) cmd_build ;;
  deploy) cmd_deploy "${@:2}" ;;
  test) cmd_test ;;
  info) cmd_info ;;
  clean) cmd_clean "${@:2}" ;;
  # Release builds share one target folder per machine: a fresh clone then
  # compiles only this crate, not its dependencies again.
  bench) shift; ensure_venv; ensure_s3
    HMS_LOCAL_S3="$S3_BIN" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}" "$VENV/bin/python" bench/bench.py "$@" ;;
  -h | --help | help | "") usage ;;
  *) usage; exit 2 ;;
esac
