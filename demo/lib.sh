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
