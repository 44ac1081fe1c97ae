# Sourced by bench/run: starts and stops the servers under test on loopback, each on a free port.
# After start_server TARGET: SERVER_URL is its base URL and SERVER_PIDS the processes to sample
# (for nginx: the master and its workers). stop_server ends exactly those processes.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_ROOT/.." && pwd)
BUILD=${BUILD:-$REPO_ROOT/build}
HERALD_THREADS=${HERALD_THREADS:-2}
NCHAN_WORKERS=${NCHAN_WORKERS:-2}
# --pinned (bench/run): the server on one core, the load generator on the other, so that per-core figures
# compare cleanly (herald with one event loop, Nchan with one worker).
SERVER_PIN=${SERVER_PIN:-}
# Publishing and approving logins take a key (no address is trusted); herald-bench sends it (--publish-key).
HERALD_BENCH_KEY=bench-publish-key

SERVER_URL=""
SERVER_PIDS=()
SERVER_DIR=""

# Waits up to 15 s for "listening on http://..." in a log file and prints the URL.
wait_listening() {
  local log=$1 pid=$2
  for _ in $(seq 150); do
    local url
    url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" 2>/dev/null | head -1 | cut -d' ' -f3)
    if [ -n "$url" ]; then echo "$url"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_server() {
  local target=$1
  SERVER_DIR=$(mktemp -d -t herald-bench-XXXXXX)
  case "$target" in
    herald)
      # History as deep as Nchan's buffer, so an interval poll 5 s apart at 100 messages/s misses nothing.
      cat >"$SERVER_DIR/herald.toml" <<TOML
web_root = "$REPO_ROOT/web"
log_level = "info"
threads = $HERALD_THREADS
publish_key = "$HERALD_BENCH_KEY"
[history]
size = 1000
[login]
database = "$SERVER_DIR/herald.db"
starts_per_minute = 1000000
[limits]
# Every bench client comes from one address; 5,000 subscribers would fill the per-address default and
# refuse the bench's own channel-info reads.
max_connections_per_ip = 0
${HERALD_LIMITS:-}
TOML
      $SERVER_PIN "$BUILD/herald" serve --listen 127.0.0.1:0 --config "$SERVER_DIR/herald.toml" >"$SERVER_DIR/log" 2>&1 &
      SERVER_PIDS=($!)
      SERVER_URL=$(wait_listening "$SERVER_DIR/log" "${SERVER_PIDS[0]}") || return 1
      ;;
    nchan)
      local port
      port=$(free_port)
      mkdir -p "$SERVER_DIR"/{client_body,proxy,fastcgi,uwsgi,scgi}
      # NCHAN_MASTER_PROCESS=off: one process does everything (bench/quick/instructions.sh counts it).
      sed -e "s|@PREFIX@|$SERVER_DIR|g" -e "s|@PORT@|$port|g" -e "s|@WORKERS@|$NCHAN_WORKERS|g" \
        -e "s|^master_process on;|master_process ${NCHAN_MASTER_PROCESS:-on};|" \
        "$BENCH_ROOT/peers/nchan.conf.in" >"$SERVER_DIR/nginx.conf"
      $SERVER_PIN nginx -p "$SERVER_DIR" -c "$SERVER_DIR/nginx.conf" -e "$SERVER_DIR/error.log" >"$SERVER_DIR/log" 2>&1 &
      local master=$!
      SERVER_URL="http://127.0.0.1:$port"
      for _ in $(seq 150); do
        if curl -s -o /dev/null "$SERVER_URL/pub/ping"; then break; fi
        sleep 0.1
      done
      SERVER_PIDS=("$master" $(pgrep -P "$master"))
      ;;
    floor)
      # The physical floor (bench/floor/floor.cpp): one send per subscriber per message; spoken to as `ws`.
      $SERVER_PIN "$BUILD/bench/herald-floor" >"$SERVER_DIR/log" 2>&1 &
      SERVER_PIDS=($!)
      SERVER_URL=$(wait_listening "$SERVER_DIR/log" "${SERVER_PIDS[0]}") || return 1
      ;;
    ws | socketio)
      local script=ws-server.mjs
      [ "$target" = socketio ] && script=socketio-server.mjs
      WS_DEFLATE=${WS_DEFLATE:-} node "$BENCH_ROOT/peers/$script" >"$SERVER_DIR/log" 2>&1 &
      SERVER_PIDS=($!)
      SERVER_URL=$(wait_listening "$SERVER_DIR/log" "${SERVER_PIDS[0]}") || return 1
      ;;
    *) echo "unknown target $target" >&2; return 1 ;;
  esac
  echo "started $target at $SERVER_URL (pids ${SERVER_PIDS[*]})" >&2
}

stop_server() {
  [ ${#SERVER_PIDS[@]} -gt 0 ] || return 0
  kill -TERM "${SERVER_PIDS[0]}" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "${SERVER_PIDS[0]}" 2>/dev/null || break
    sleep 0.1
  done
  for pid in "${SERVER_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait "${SERVER_PIDS[0]}" 2>/dev/null || true
  rm -rf "$SERVER_DIR"
  SERVER_PIDS=()
}
