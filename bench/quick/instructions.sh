#!/usr/bin/env bash
# Instructions per delivery, herald beside Nchan, counted by callgrind: a figure the machine's load does
# not move (CPU time does), for a machine that is never quiet. One server process each (herald with one
# event loop; nginx with one worker), the same herald-bench fan-out against both. Each server runs twice,
# with M1 and then M2 messages, and the difference is divided by the extra deliveries, so connecting,
# starting and stopping cancel out: what is left is publish handling plus fan-out, per delivery. The
# client (herald-bench) runs outside callgrind at full speed; the servers run some 50 times slower, so the
# publish rate is kept low enough that neither falls behind.
#
#   bench/quick/instructions.sh [transport ...]      (default: ws sse longpoll)
#   N=200 M1=20 M2=100 RATE=10 bench/quick/instructions.sh ws
# Needs valgrind and `make bench-deps` (nginx + Nchan); build/herald and build/bench/herald-bench built.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"

N=${N:-200}
M1=${M1:-20}
M2=${M2:-100}
RATE=${RATE:-10}
HERALD_THREADS=1
NCHAN_WORKERS=1
NCHAN_MASTER_PROCESS=off  # nginx's one process serves (no master and worker to add up)
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }

# Total instructions of every process callgrind wrote a profile for.
instructions() {
  local total=0 n
  for file in "$1"/cg.*; do
    n=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

# Runs TARGET under callgrind for M messages to N subscribers; prints its instruction count.
measure() {
  local target=$1 transport=$2 messages=$3 profiles
  profiles=$(mktemp -d -t herald-callgrind-XXXXXX)
  SERVER_PIN="valgrind --tool=callgrind --callgrind-out-file=$profiles/cg.%p"
  start_server "$target" >&2
  "$BUILD/bench/herald-bench" --target "$target" --url "$SERVER_URL" --transport "$transport" -n "$N" \
    --rate "$RATE" --duration "$(echo "$messages / $RATE" | bc -l)" --drain 30 \
    --publish-key "$HERALD_BENCH_KEY" >"$profiles/bench.log" 2>&1 ||
    { echo "herald-bench failed against $target ($transport):" >&2; cat "$profiles/bench.log" >&2; exit 1; }
  # Ended gently and waited for: callgrind writes its profile only when the process exits.
  kill -TERM "${SERVER_PIDS[0]}"
  for _ in $(seq 600); do kill -0 "${SERVER_PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
  wait "${SERVER_PIDS[0]}" 2>/dev/null || true
  SERVER_PIDS=()
  rm -rf "$SERVER_DIR"
  instructions "$profiles"
  rm -rf "$profiles"
}

printf '| transport | herald instructions/delivery | Nchan instructions/delivery | herald ÷ Nchan |\n|---|---|---|---|\n'
for transport in "${@:-ws sse longpoll}"; do
  for transport_one in $transport; do
    declare -A per=()
    for target in herald nchan; do
      low=$(measure "$target" "$transport_one" "$M1")
      high=$(measure "$target" "$transport_one" "$M2")
      per[$target]=$(((high - low) / ((M2 - M1) * N)))
    done
    printf '| %s | %s | %s | %.2f |\n' "$transport_one" "${per[herald]}" "${per[nchan]}" \
      "$(echo "${per[herald]} / ${per[nchan]}" | bc -l)"
  done
done
