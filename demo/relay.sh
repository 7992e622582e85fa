#!/usr/bin/env bash
# The demo's session relay part: signed Cognigy.AI webhooks through `tenantops session-relay`
# into Redis and back to the simulator. Run by demo/run.sh (so by `make demo`), which
# lends it its simulator; alone (`bash demo/relay.sh`, with .venv/bin on PATH) it starts
# one. Redis: the one at $TENANTOPS_TEST_REDIS_URL, else one started here (redis-server,
# or the packaged valkey-server). Everything it started stops at the end, even on failure,
# and the demo session's keys are deleted from a Redis it did not start.
set -euo pipefail
cd "$(dirname "$0")/.."
. demo/env.sh
. demo/lib.sh

work=.demo/relay
rm -rf "$work" && mkdir -p "$work"
export TENANTOPS_TEST_REDIS_URL="${TENANTOPS_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export REDIS_URL="$TENANTOPS_TEST_REDIS_URL"
# A demo secret (Standard Webhooks: whsec_ + base64); never a real one.
export TENANTOPS_WEBHOOK_SECRET="whsec_ZGVtby1yZWxheS1zZWNyZXQtZG8tbm90LXVzZQ=="
session="demo-$(python -c 'import uuid; print(uuid.uuid4().hex[:8])')"
relay_port=$(free_port)
relay="http://127.0.0.1:$relay_port"
relay_pid="" sim_pid="" redis_pid=""

stop() {
  set +e  # clean up all of it, whatever fails
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  # Someone else's Redis: leave it as it was, but for this demo session's keys.
  [ -z "$redis_pid" ] && forget_session "$session"
  for pid in "$sim_pid" "$redis_pid"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  return 0
}
trap stop EXIT

use_redis "$work/redis"

if [ -n "${COGNIGY_BASE_URL:-}" ] && wait_healthy 2>/dev/null; then
  echo "(the Cognigy.AI simulator at $COGNIGY_BASE_URL stands in for Cognigy.AI)"
else
  port=$(free_port)
  export COGNIGY_BASE_URL="http://127.0.0.1:$port"
  step "Start the Cognigy.AI simulator" "tenantops sim --port $port --admin &"
  tenantops sim --port "$port" --admin >"$work/sim.log" 2>&1 &
  sim_pid=$!
  wait_healthy
fi

step "Start the session relay: webhooks signed with TENANTOPS_WEBHOOK_SECRET, state in Redis" \
  "TENANTOPS_WEBHOOK_SECRET=whsec_... REDIS_URL=$REDIS_URL tenantops session-relay --port $relay_port &"
tenantops session-relay --port "$relay_port" --session-ttl 300 >"$work/relay.log" 2>&1 &
relay_pid=$!
wait_healthy "$relay"

# webhook STATUS ID VERSION KEY=VALUE...: sign a transition of the demo session as
# Cognigy.AI does (Standard Webhooks), POST it, print the answer; fail unless STATUS.
webhook() { python demo/webhook.py "$relay" "$session" "$@"; }

# What Redis and the simulator hold for the demo session.
show_session() {
  python - "$REDIS_URL" "$session" "$COGNIGY_BASE_URL" <<'PY'
import json, sys, urllib.request
import redis
from tenantops.relay.store import context_key, version_key
from tenantops.relay.wire import decode

url, session, sim = sys.argv[1:]
with redis.Redis.from_url(url) as client:
    state = decode(client.get(context_key(session)))
    print(f"Redis {context_key(session)}: {dict(sorted(state.variables.items()))} "
          f"(ttl {client.ttl(context_key(session))} s), "
          f"{version_key(session)} = {client.get(version_key(session)).decode()}")
sessions = json.load(urllib.request.urlopen(sim + "/_sim/state"))["sessions"]
print(f"simulator GET /_sim/state .sessions[{session}]: {json.dumps(sessions[session])}")
PY
}

step "Cognigy.AI opens session $session: a signed webhook at version 0" \
  "POST /webhook (webhook-id msg_1, webhook-signature v1,<HMAC-SHA256>) {\"version\": 0, \"context\": {\"orderId\": \"A-17\"}}"
webhook 200 msg_1 0 orderId=A-17
show_session

step "The next node: a transition from version 1" "POST /webhook (msg_2) {\"version\": 1, \"context\": {\"status\": \"shipped\"}}"
webhook 200 msg_2 1 status=shipped
show_session

step "Cognigy.AI redelivers msg_2 (same webhook-id): the recorded answer, nothing written twice" \
  "POST /webhook (msg_2 again)"
webhook 200 msg_2 1 status=shipped
show_session

step "A late webhook from version 1 (the session is at 2): 409, and its context is not applied" \
  "POST /webhook (msg_3) {\"version\": 1, \"context\": {\"status\": \"lost\"}}"
webhook 409 msg_3 1 status=lost
show_session

step "The relay's request counters" "GET /metrics | grep tenantops_relay_requests"
python - "$relay" <<'PY'
import sys, urllib.request
for line in urllib.request.urlopen(sys.argv[1] + "/metrics").read().decode().splitlines():
    if line.startswith("tenantops_relay_requests_total"):
        print(line)
PY

printf '\nThe relay part wrote %s/ (relay log; Redis and simulator logs if it started them).\n' "$work"
