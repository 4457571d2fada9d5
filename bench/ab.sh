#!/usr/bin/env bash
# A/B of two builds of fcgipm on one load: each lever of the request path was measured with it
# (docs/benchmarks.md, "Request-path levers").
#
#   bench/ab.sh [options] DIST_A DIST_B [-- WRK_ARGS...]
#
# DIST_A and DIST_B are compiled trees beside dist/ in the project root (so the native addon
# at build/ is found), e.g. for a commit:
#   git worktree add /tmp/wt-x <commit> && (cd /tmp/wt-x && ln -s "$PWD/node_modules" . &&
#     npx tsc -p tsconfig.build.json --outDir "$OLDPWD/dist-x")
# Both servers run at once (`fcgipm run --min N --max N`, FCGIPM_LOG_LEVEL=warn); wrk loads
# them in turn, ROUNDS times, so drift on a noisy machine hits both alike. Per round: req/s,
# p99 and the manager's own CPU per request (utime+stime of the fcgipm process / requests).
# Prints the medians and B/A.
#
# Options: --rounds N (3)  --seconds S (4)  --procs N (4)  --app PATH (fixtures/fcgi-apps/build/hello.fcgi)
#          --path /URL (/)  --args "fcgipm run options"  --args-a / --args-b "options for one side"
#          --node-a "node flags"  --node-b "node flags"
set -euo pipefail
# fcgipm refuses to run workers as root unless told (as php-fpm does); the peers run as root too.
root_args=""; [ "$(id -u)" = 0 ] && root_args="--allow-root"
cd "$(dirname "$0")/.."
rounds=3 seconds=4 procs=4 app=fixtures/fcgi-apps/build/hello.fcgi url=/ args="" args_a="" args_b="" node_a="" node_b=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --app) app=$2; shift 2 ;;
    --path) url=$2; shift 2 ;;
    --args) args=$2; shift 2 ;;
    --args-a) args_a=$2; shift 2 ;;
    --args-b) args_b=$2; shift 2 ;;
    --node-a) node_a=$2; shift 2 ;;
    --node-b) node_b=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "bench/ab.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 2 ] || { echo "usage: bench/ab.sh [options] DIST_A DIST_B [-- WRK_ARGS...]" >&2; exit 2; }
a=$1 b=$2; shift 2
[ "${1:-}" = "--" ] && shift
wrk_args=("$@")
command -v wrk >/dev/null || { echo "bench/ab.sh: wrk not found: apt-get install -y wrk" >&2; exit 2; }
for d in "$a" "$b"; do [ -f "$d/cli/main.js" ] || { echo "bench/ab.sh: $d/cli/main.js not found" >&2; exit 2; }; done
scratch=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
start() { # dist nodeflags port side-args
  mkdir -p "$scratch/ipc-$3"
  # shellcheck disable=SC2086
  FCGIPM_LOG_LEVEL=warn node $2 -e "require(require('path').resolve('$1/cli/main.js')).main(process.argv.slice(1))" \
    run $root_args --http "127.0.0.1:$3" --ipc-dir "$scratch/ipc-$3" --min "$procs" --max "$procs" $args $4 -- "$app" >"$scratch/$3.log" 2>&1 &
  pids+=($!)
}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
round() { # pid port
  local c0 c1 out n
  c0=$(cpu "$1")
  out=$(wrk -t1 -d"${seconds}s" --latency "${wrk_args[@]}" "http://127.0.0.1:$2$url" 2>&1)
  c1=$(cpu "$1")
  n=$(echo "$out" | awk '/requests in/{print $1}')
  echo "$(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | awk '/ 99%/{print $2}') $(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / n ))"
}
pa=$(free_port); pb=$(free_port)
start "$a" "$node_a" "$pa" "$args_a"; start "$b" "$node_b" "$pb" "$args_b"
# Both must be listening before the warm-up (a fixed sleep was too short on a loaded machine).
for p in "$pa" "$pb"; do
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
for p in "$pa" "$pb"; do wrk -t1 -c32 -d1s "${wrk_args[@]}" "http://127.0.0.1:$p$url" >/dev/null; done
: >"$scratch/rounds"
for _ in $(seq "$rounds"); do
  ra=$(round "${pids[0]}" "$pa"); rb=$(round "${pids[1]}" "$pb")
  echo "A: $ra   B: $rb   (req/s p99 cpu-us/req)"
  echo "$ra $rb" >>"$scratch/rounds"
done
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
echo "manager RSS after the load: A $(rss "${pids[0]}") kB, B $(rss "${pids[1]}") kB"
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(/\s+/));
const med = (i) => { const v = rows.map((r) => parseFloat(r[i])).sort((x, y) => x - y); return v[Math.floor(v.length / 2)]; };
const [ra, ca, rb, cb] = [med(0), med(2), med(3), med(5)];
console.log(`median req/s A ${ra.toFixed(0)} B ${rb.toFixed(0)} (B/A ${(rb / ra).toFixed(2)}); manager CPU per request A ${ca} us B ${cb} us (B/A ${(cb / ca).toFixed(2)})`);
' "$scratch/rounds"
