#!/usr/bin/env bash
# The demo's second part: the same loop on the real Cognigy.AI REST API v2.0 flavour,
# against `tenantops sim --flavor cognigy-v2`. Run by demo/run.sh (so by `make demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
. demo/env.sh
. demo/lib.sh

work=.demo/v2
rm -rf "$work" && mkdir -p "$work/repo"
cp -r templates "$work/repo/"
mkdir "$work/repo/tenants"
cp tenants/acme.yaml tenants/globex.yaml "$work/repo/tenants/"
port=$(free_port)
export COGNIGY_BASE_URL="http://127.0.0.1:$port" COGNIGY_API_KEY="demo-v2-key-do-not-use"
unset OAUTH_CLIENT_ID OAUTH_CLIENT_SECRET
top() { tenantops -C "$work/repo" "$@"; }

cat >"$work/repo/tenantops.yaml" <<'YAML'
# The example fleet on Cognigy.AI REST API v2.0: each tenant's workspace is a project id.
api:
  flavor: cognigy-v2
  baseUrl: ${env:COGNIGY_BASE_URL}
  apiKey: ${env:COGNIGY_API_KEY}
  snapshots: {keep: 3}
defaults:
  template: support-bot
  params:
    maxRetries: 3
  vars:
    tier: standard
lockfile: tenantops.lock
audit: audit/
YAML

step "Start the Cognigy.AI v2.0 simulator (tasks take 1 s)" \
  "tenantops sim --flavor cognigy-v2 --port $port --admin --task-seconds 1 --api-key ... &"
tenantops sim --flavor cognigy-v2 --port "$port" --admin --task-seconds 1 \
  --api-key "$COGNIGY_API_KEY:ops@example.com" >"$work/sim.log" 2>&1 &
sim_pid=$!
relay_pid="" redis_pid="" session=""
stop() {
  set +e  # clean up all of it, whatever fails
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  # Someone else's Redis: leave it as it was, but for this demo session's keys.
  [ -n "$session" ] && [ -z "$redis_pid" ] && forget_session "$session"
  for pid in "$sim_pid" "$redis_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  return 0
}
trap stop EXIT
wait_healthy

step "Seed two empty projects, and point the tenants at them" "POST /_sim/seed"
admin "$work/repo/tenants" <<'PY'
import json, pathlib, re, sys, urllib.request
base, tenants = sys.argv[1], pathlib.Path(sys.argv[2])
users = ["alice@acme.example", "bob@acme.example", "carol@globex.example", "dan@globex.example"]
projects = [
    {"name": name, "locales": [{"name": "en-US", "primary": True}, {"name": "de-DE"}],
     "flows": [{"name": "Main", "context": {}}]}
    for name in ("acme", "globex")
]
body = json.dumps({"users": [{"email": u} for u in users], "projects": projects}).encode()
request = urllib.request.Request(base + "/_sim/seed", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
for project in json.load(urllib.request.urlopen(request))["projects"]:
    path = tenants / f"{project['name']}.yaml"
    path.write_text(re.sub(r"(?m)^workspace: .*$", f"workspace: {project['_id']}", path.read_text()))
    print(f"{project['name']}: project {project['_id']}")
PY

step "Plan against the projects, and save the plan" "tenantops plan --out plan.json"
top plan --out "$work/plan.json" | tail -4

step "Apply it: backup snapshot, writes by name, training, roles, lockfile, audit" \
  "tenantops apply plan.json"
top apply "$work/plan.json"

step "A second plan is empty, and drift is clean" "tenantops plan --detailed-exitcode; tenantops drift"
top plan --detailed-exitcode | tail -1
top drift

step "Someone adds a sentence to acme's greeting intent in the Cognigy UI" "POST /_sim/intents/{id}/sentences"
admin <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
state = json.load(urllib.request.urlopen(base + "/_sim/state"))["tables"]
acme = next(p["_id"] for p in state["projects"] if p["name"] == "acme")
flow = next(f["_id"] for f in state["flows"] if f["projectReference"] == acme)
intent = next(i for i in state["intents"] if i["flowReference"] == flow and i["name"] == "greeting")
request = urllib.request.Request(
    f"{base}/_sim/intents/{intent['_id']}/sentences", data=json.dumps({"text": "yo acme"}).encode(),
    method="POST", headers={"Content-Type": "application/json"})
urllib.request.urlopen(request)
print("added the sentence 'yo acme'")
PY

step "Drift finds it (exit code 2)" "tenantops drift acme"
set +e
top drift acme
code=$?
set -e
echo "(exit code $code: 2 means drift)"

step "Apply again to undo the UI edit; acme's next training is set to fail, so the backup is restored" \
  "POST /_sim/projects/{acme}/fail-next-training; tenantops apply --auto-approve acme"
admin <<'PY'
import json, sys, urllib.request
base = sys.argv[1]
state = json.load(urllib.request.urlopen(base + "/_sim/state"))["tables"]
acme = next(p["_id"] for p in state["projects"] if p["name"] == "acme")
request = urllib.request.Request(f"{base}/_sim/projects/{acme}/fail-next-training", data=b"{}",
                                 method="POST", headers={"Content-Type": "application/json"})
urllib.request.urlopen(request)
print("acme's next training will fail")
PY
set +e
top apply --auto-approve acme | tail -8
set -e

step "acme's audit trail: backup snapshot, deploy, rollback (verified), and the chain check" \
  "tenantops audit show acme | tail -6; tenantops audit verify"
top audit show acme | tail -6 | cut -c1-160
top audit verify

export REDIS_URL="${TENANTOPS_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export TENANTOPS_WEBHOOK_SECRET="whsec_ZGVtby1yZWxheS1zZWNyZXQtZG8tbm90LXVzZQ=="  # a demo secret
session="demo-v2-$(python -c 'import uuid; print(uuid.uuid4().hex[:8])')"
relay_port=$(free_port)
use_redis "$work/redis"
step "The session relay on cognigy-v2: Redis is the only truth, contexts are injected whole" \
  "tenantops session-relay --flavor cognigy-v2 --quota 20/10s --port $relay_port &"
tenantops session-relay --flavor cognigy-v2 --quota 20/10s --port "$relay_port" \
  >"$work/relay.log" 2>&1 &
relay_pid=$!
wait_healthy "http://127.0.0.1:$relay_port"

step "12 signed webhooks in a row for one session: each answered after its Redis commit; while an inject waits for the quota, newer states replace it" \
  "POST /webhook x 12; GET /_sim/sessions/$session"
python - "http://127.0.0.1:$relay_port" "$session" "$COGNIGY_BASE_URL" "$REDIS_URL" <<'PY'
import json, sys, time, urllib.request
import redis
sys.path.insert(0, "demo")
from webhook import send
from tenantops.relay.store import context_key
from tenantops.relay.wire import decode

relay, session, sim, redis_url = sys.argv[1:]
started = time.perf_counter()
for version in range(12):
    context = {"step": str(version), "cart": ["A-17"] * (version % 3)}
    status, answer = send(relay, session, f"msg_v2_{version}", version, context)
    if status != 200:
        sys.exit(f"webhook {version}: {status} {answer}")
print(f"12 webhooks answered 200 in {time.perf_counter() - started:.2f} s; the last: {answer}")
with redis.Redis.from_url(redis_url) as client:
    final = dict(decode(client.get(context_key(session))).variables)
print(f"Redis {context_key(session)}: {final}")
for _ in range(200):
    try:
        got = json.load(urllib.request.urlopen(f"{sim}/_sim/sessions/{session}"))
    except OSError:
        got = {}
    if {k: v for k, v in got.get("lastInjected", {}).items() if v is not None} == final:
        break
    time.sleep(0.1)
else:
    sys.exit(f"upstream never got the final state: {got}")
print(f"Cognigy.AI (simulator): {got['injections']} inject(s) for 12 commits, as userId "
      f"{got['userId']}; the last injected context equals the Redis state: {got['lastInjected']}")
for line in urllib.request.urlopen(relay + "/metrics").read().decode().splitlines():
    if line.startswith(("tenantops_relay_requests_total", "tenantops_relay_injects_total")):
        print(line)
PY

printf '\nThe cognigy-v2 part wrote %s/ (config copy, lockfile, audit trail, simulator and relay logs).\n' "$work"
