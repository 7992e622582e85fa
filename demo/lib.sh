# Shared by the demo scripts: step headings, the simulator's admin API, waiting for health, Redis.
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
admin() { python - "$COGNIGY_BASE_URL" "$@"; }
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() {  # wait_healthy [BASE_URL]: until BASE_URL/healthz answers (the simulator's by default)
  local base="${1:-$COGNIGY_BASE_URL}"
  for _ in $(seq 100); do
    python - "$base" <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)
except OSError:
    sys.exit(1)
PY
    sleep 0.1
  done
  echo "nothing answers at $base/healthz" >&2
  return 1
}
# The Redis at $TENANTOPS_TEST_REDIS_URL (default redis://127.0.0.1:6379/0): `redis_server
# ping`, `binary`, `serve --dir DIR` (redis-server, else the packaged valkey-server).
redis_server() { python tests/support/redisserver.py "$@"; }
# use_redis DIR: the Redis at $REDIS_URL if one answers, else one started here with its
# files in DIR (its pid in $redis_pid, for the caller to stop).
use_redis() {
  redis_pid=""
  if redis_server ping; then
    step "Redis answers at $REDIS_URL: the relay uses it" "python tests/support/redisserver.py ping"
    return 0
  fi
  local binary
  binary=$(redis_server binary)  # or stop here, saying what to install
  step "Start Redis for the relay (${binary##*/})" \
    "python tests/support/redisserver.py serve --dir $1 &"
  # Not through the redis_server function: `$!` must be the server itself (it execs).
  python tests/support/redisserver.py serve --dir "$1" &
  redis_pid=$!
  redis_server ping --wait 10
}
# forget_session SESSION: delete a demo session's keys from a Redis the demo did not start.
forget_session() {
  python - "$REDIS_URL" "$1" <<'PY'
import sys, redis
with redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1) as client:
    keys = list(client.scan_iter(match=f"cognigy:*{{{sys.argv[2]}}}*"))
    if keys:
        client.delete(*keys)
    client.zrem("tenantops:relay:pending", sys.argv[2])
PY
}
