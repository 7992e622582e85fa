#!/usr/bin/env bash
# The demo: the example fleet on the simulator, start to end. Run by `make demo`.
# It needs nothing but the project's .venv (make puts it on PATH) and a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
. demo/env.sh

work=.demo
rm -rf "$work" && mkdir -p "$work"
cp demo/sim-state/state.json "$work/state.json"
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export COGNIGY_BASE_URL="http://127.0.0.1:$port"

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "Validate the config repo offline (what a pull request check runs)" tenantops validate
tenantops validate

step "Render one tenant's desired model (secrets masked)" "tenantops render acme | head -20"
tenantops render acme | head -20

step "Start the Cognigy.AI simulator, seeded: some tenants deployed, globex edited in the UI, stark new" \
  "tenantops sim --port $port --state $work --admin &"
tenantops sim --port "$port" --state "$work" --admin --deploy-seconds 1 >"$work/sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  python - "$COGNIGY_BASE_URL" <<'PY' && break
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)
except OSError:
    sys.exit(1)
PY
  sleep 0.1
done

step "Plan every tenant against the live workspaces" tenantops plan --detailed-exitcode
set +e
tenantops plan --detailed-exitcode
code=$?
set -e
echo "(exit code $code: 2 means there are changes)"

step "The same plan as a pull-request comment (first lines)" "tenantops plan --format markdown | head -14"
tenantops plan --format markdown | head -14

step "Save the plan for apply" tenantops plan --out "$work/plan.json"
tenantops plan --out "$work/plan.json" >/dev/null
python - "$work/plan.json" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
print(f"plan {plan['plan_id']}: {plan['summary']}")
PY

step "Drift: nothing has been applied by tenantops yet" tenantops drift
tenantops drift || true

printf '\nThe simulator log is in %s; its state in %s/state.json.\n' "$work/sim.log" "$work"
