#!/usr/bin/env bash
# Start / stop a local Prefect server and a process worker on the `local` pool.
#
#   infra/prefect_server.sh start    # server on 127.0.0.1:$DPT_PREFECT_PORT, waits for /api/health
#   infra/prefect_server.sh worker   # creates the `local` process pool and starts a worker on it
#   infra/prefect_server.sh env      # prints PREFECT_API_URL for clients
#   infra/prefect_server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DPT_PREFECT_DIR:-${TMPDIR:-/tmp}/dpt-prefect}
PORT=${DPT_PREFECT_PORT:-4200}
PREFECT=$(command -v prefect || echo .venv/bin/prefect)
API="http://127.0.0.1:$PORT/api"
export PREFECT_HOME="$DIR/home" PREFECT_SERVER_ANALYTICS_ENABLED=false

healthy() { curl -fsS "$API/health" >/dev/null 2>&1; }

case "${1:-start}" in
start)
    if healthy; then echo "[prefect] already running at $API, UI http://127.0.0.1:$PORT"; exit 0; fi
    mkdir -p "$PREFECT_HOME"
    nohup "$PREFECT" server start --host 127.0.0.1 --port "$PORT" >"$DIR/server.log" 2>&1 &
    echo $! > "$DIR/server.pid"
    for _ in $(seq 1 180); do
        if healthy; then echo "[prefect] server up at $API, UI http://127.0.0.1:$PORT (log $DIR/server.log)"; exit 0; fi
        sleep 0.5
    done
    echo "[prefect] server did not become healthy in 90 s:" >&2; tail -20 "$DIR/server.log" >&2; exit 1
    ;;
worker)
    healthy || { echo "[prefect] no server at $API: run '$0 start' first" >&2; exit 1; }
    export PREFECT_API_URL="$API"
    "$PREFECT" work-pool create local --type process --overwrite >/dev/null
    nohup "$PREFECT" worker start --pool local --type process >"$DIR/worker.log" 2>&1 &
    echo $! > "$DIR/worker.pid"
    echo "[prefect] worker started on pool 'local' (log $DIR/worker.log)"
    ;;
stop)
    # A Prefect worker ignores the first SIGTERM while it shuts down cleanly: wait, then insist.
    for p in worker server; do
        [ -f "$DIR/$p.pid" ] || continue
        pid=$(cat "$DIR/$p.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$DIR/$p.pid"
    done
    echo "[prefect] stopped"
    ;;
env) echo "export PREFECT_API_URL=$API" ;;
status)
    if healthy; then echo "[prefect] healthy at $API"; else echo "[prefect] not running"; exit 1; fi
    ;;
*) echo "usage: $0 {start|worker|stop|env|status}" >&2; exit 2 ;;
esac
