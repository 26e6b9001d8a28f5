#!/usr/bin/env bash
# `make run` as a newcomer runs it: a venv with the runtime requirements only, then the two
# calls from the README. Fails if the demo token, health or the contacts total is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$work/run.log"
DATABASE_URL="sqlite:///$work/db.sqlite3" MEDIA_ROOT="$work/media" PORT="$port" \
    make run VENV="$work/venv" >"$log" 2>&1 &
runner=$!
trap 'pkill -P $runner 2>/dev/null || true; kill $runner 2>/dev/null || true; pkill -f "127.0.0.1:$port" || true' EXIT
for _ in $(seq 1 180); do
    curl -sf --max-time 5 "http://127.0.0.1:$port/v1/health" >/dev/null && break
    kill -0 $runner 2>/dev/null || { echo "make run exited:"; cat "$log"; exit 1; }
    sleep 1
done
token=$(grep -m1 '^Demo token (acme): ' "$log" | awk '{print $NF}')
[ -n "$token" ] || { echo "no demo token line"; cat "$log"; exit 1; }
curl -sf "http://127.0.0.1:$port/v1/health" | grep -q '"status":"healthy"'
total=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/contacts?limit=1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
[ "$total" = "1247" ] || { echo "contacts total $total, expected 1247"; exit 1; }
curl -sf "http://127.0.0.1:$port/status" | grep -q "All systems operational"
grep -q '^Demo staff login (/ops/): operator / ' "$log" || { echo "no demo staff login line"; exit 1; }
echo "make run smoke: demo token, health, 1247 contacts and the status page OK"
