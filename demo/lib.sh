# Shared by the demo scripts: step headings, the simulator's admin API, waiting for health.
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }
admin() { python - "$COGNIGY_BASE_URL" "$@"; }
free_port() { python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() {
  for _ in $(seq 100); do
    admin <<'PY' && return 0
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=1)
except OSError:
    sys.exit(1)
PY
    sleep 0.1
  done
  echo "the simulator at $COGNIGY_BASE_URL did not start" >&2
  return 1
}
