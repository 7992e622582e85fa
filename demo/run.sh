#!/usr/bin/env bash
# The demo: the example fleet on the simulator, start to end. Run by `make demo`.
# It works on a copy of the config repo in .demo/, so the checkout stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
. demo/env.sh
. demo/lib.sh

work=.demo
rm -rf "$work" && mkdir -p "$work/repo" "$work/sim"
cp -r tenantops.yaml tenants templates "$work/repo/"
cp demo/sim-state/state.json "$work/sim/state.json"
port=$(free_port)
export COGNIGY_BASE_URL="http://127.0.0.1:$port"
top() { tenantops -C "$work/repo" "$@"; }


step "Validate the config repo offline (what a pull request check runs)" tenantops validate
top validate

step "Render one tenant's desired model (secrets masked)" "tenantops render acme | head -12"
top render acme | head -12

step "Start the Cognigy.AI simulator: some tenants deployed, globex edited in the UI, stark new" \
  "tenantops sim --port $port --state $work/sim --admin --deploy-seconds 1 &"
tenantops sim --port "$port" --state "$work/sim" --admin --deploy-seconds 1 >"$work/sim.log" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null || true' EXIT
wait_healthy

step "Plan every tenant against the live workspaces, and save the plan" \
  "tenantops plan --out plan.json --detailed-exitcode"
set +e
top plan --out "$work/plan.json" --detailed-exitcode
code=$?
set -e
echo "(exit code $code: 2 means there are changes)"

step "The same plan as a pull-request comment (first lines)" "tenantops plan --format markdown | head -12"
top plan --format markdown | head -12

step "Apply the saved plan: deploy, poll, roll back on failure, assign roles, lock, audit" \
  "tenantops apply plan.json"
top apply "$work/plan.json"

step "Drift right after the apply: none" tenantops drift
top drift

step "Someone edits wayne's bot in the Cognigy UI (through the simulator's admin API)" "PUT /_sim/workspaces/ws-wayne/bots/support-bot"
admin <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
state = json.load(urllib.request.urlopen(base + "/_sim/state"))
bot = state["workspaces"]["ws-wayne"]["bots"]["support-bot"]
bot.pop("version", None)
bot["metadata"]["tier"] = "standard"
for intent in bot["intents"]:
    if intent["name"] == "greeting":
        intent["examples"].append("yo wayne")
request = urllib.request.Request(
    f"{base}/_sim/workspaces/ws-wayne/bots/support-bot", data=json.dumps(bot).encode(),
    method="PUT", headers={"Content-Type": "application/json"},
)
urllib.request.urlopen(request)
print("edited: metadata.tier, and an example of the greeting intent")
PY

step "Drift finds it (exit code 2), and tells it apart from config changes" tenantops drift
set +e
top drift
code=$?
set -e
echo "(exit code $code: 2 means drift)"

step "The audit trail of one tenant, and its verification" "tenantops audit show stark; tenantops audit verify"
top audit show stark
top audit verify

printf '\nEverything the demo wrote is in %s/ (config copy, lockfile, audit trail, simulator state and log).\n' "$work"

bash demo/relay.sh
bash demo/cognigy_v2.sh
