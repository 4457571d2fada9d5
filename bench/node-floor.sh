#!/usr/bin/env bash
# The floor under fcgipm's HTTP front end on this machine, four servers loaded in turn:
# - bare-node: a Node http server answering the same 70-odd bytes as hello.fcgi itself, with
#   no FastCGI hop and no app processes;
# - node-proxy: the least a Node FastCGI front end can do (bench/lib/minimal-proxy.js): fixed
#   PARAMS over 4 kept connections to spawn-fcgi -F 4 hello.fcgi, no routing, no timeouts;
# - fcgipm: `fcgipm run --min 4 --max 4` on hello.fcgi;
# - nginx+spawn-fcgi: nginx (one worker) and spawn-fcgi -F 4 hello.fcgi.
# wrk loads them in turn, ROUNDS times; prints each one's median req/s and p99s. The space
# between node-proxy and fcgipm is fcgipm's own per-request work; between bare-node and
# node-proxy, what Node pays for the FastCGI hop (docs/benchmarks.md, "Where the time still goes").
#
#   bench/node-floor.sh [--rounds N] [--seconds S] [--connections C]
#
# Needs wrk, nginx, spawn-fcgi (apt-get install -y wrk nginx spawn-fcgi), dist/ and the fixtures.
set -euo pipefail
# fcgipm refuses to run workers as root unless told (as php-fpm does); the peers run as root too.
root_args=""; [ "$(id -u)" = 0 ] && root_args="--allow-root"
cd "$(dirname "$0")/.."
rounds=3 seconds=5 conns=32
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
app="$PWD/fixtures/fcgi-apps/build/hello.fcgi"
scratch=$(mktemp -d /tmp/fcgipm-node-floor-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$scratch"; }
trap cleanup EXIT

node --max-semi-space-size=2 -e '
const body = Buffer.from(`Hello from fcgipm fixture pid=${process.pid} request=1 uid=0\n`);
require("http").createServer((req, res) => { res.setHeader("Content-Type", "text/plain"); res.end(body); }).listen(18201, "127.0.0.1");' &
pids+=($!)
FCGIPM_LOG_LEVEL=error bin/fcgipm.js run $root_args --http 127.0.0.1:18202 --ipc-dir "$scratch/ipc" --min 4 --max 4 -- "$app" &
pids+=($!)
spawn-fcgi -n -s "$scratch/spawn.sock" -F 4 -- "$app" >/dev/null 2>&1 &
pids+=($!)
spawn-fcgi -n -s "$scratch/proxy.sock" -F 4 -- "$app" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
node --max-semi-space-size=2 bench/lib/minimal-proxy.js "$scratch/proxy.sock" 18204 &
pids+=($!)
mkdir -p "$scratch/nginx"
cat >"$scratch/nginx/nginx.conf" <<CONF
user root; worker_processes 1; daemon off; pid $scratch/nginx/nginx.pid; error_log $scratch/nginx/error.log warn;
events { worker_connections 1024; }
http { access_log off;
  client_body_temp_path $scratch/nginx/b; fastcgi_temp_path $scratch/nginx/f; proxy_temp_path $scratch/nginx/p;
  uwsgi_temp_path $scratch/nginx/u; scgi_temp_path $scratch/nginx/s;
  server { listen 127.0.0.1:18203; location / { include /etc/nginx/fastcgi_params;
    fastcgi_param SCRIPT_FILENAME $app; fastcgi_pass unix:$scratch/spawn.sock; } } }
CONF
nginx -p "$scratch/nginx" -e "$scratch/nginx/error.log" -c "$scratch/nginx/nginx.conf" &
pids+=($!)
sleep 2

declare -A rps p99
names=(bare-node node-proxy fcgipm nginx+spawn-fcgi)
ports=(18201 18204 18202 18203)
for name in "${names[@]}"; do rps[$name]="" p99[$name]=""; done
for _ in $(seq "$rounds"); do
  for i in 0 1 2 3; do
    out=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency "http://127.0.0.1:${ports[$i]}/")
    rps[${names[$i]}]+="$(awk '/^Requests\/sec/ {print $2}' <<<"$out") "
    p99[${names[$i]}]+="$(awk '$1 == "99%" {print $2}' <<<"$out") "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "wrk -t1 -c$conns -d${seconds}s, $rounds rounds, median req/s (p99 of each round)"
for name in "${names[@]}"; do
  printf '%-18s %10s   p99: %s\n' "$name" "$(median <<<"${rps[$name]}")" "${p99[$name]}"
done
