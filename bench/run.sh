#!/usr/bin/env bash
# `make bench`: load /connect/token and the peer token server (node oidc-provider, same
# algorithm) in the same run, with ../shared/peers/bench-token.sh (wrk, 16 connections, 10 s).
#
#   bench/run.sh                 RS256 and ES256, at 1 app and at 1,000,000 apps
#   ALGS=ES256 APPS="1" bench/run.sh
#   BENCH_DB=postgresql bench/run.sh   the same on a throwaway PostgreSQL cluster (Debian's
#                                      binaries, in a temp dir, stopped at exit)
#
# Ours: gunicorn, 2 sync workers, SQLite in a temp dir (or a fresh PostgreSQL database per
# run), seeded with `controlplane bench seed`; the seed time is printed too.
# Peer: ../shared/peers/oidc-provider/server.mjs (one node process), as in its README.
# Results: printed, and kept in bench/results/ (gitignored).
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS:-$(cd "$root/.." && pwd)/shared/peers}
bin=$root/.venv/bin
algs=${ALGS:-RS256 ES256}
app_counts=${APPS:-1 1000000}
workers=${WORKERS:-2}
bench_db=${BENCH_DB:-sqlite}
[[ $bench_db == sqlite || $bench_db == postgresql ]] || {
  echo "error: BENCH_DB must be sqlite or postgresql" >&2; exit 1
}
mkdir -p "$root/bench/results"
out="$root/bench/results/$(date -u +%Y%m%dT%H%M%SZ).txt"

[[ -x "$peers/bench-token.sh" ]] || { echo "error: $peers/bench-token.sh not found (set PEERS=)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  if [[ $(id -u) == 0 ]]; then SUDO=(); else SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq wrk >/dev/null
fi
if [[ ! -d "$peers/oidc-provider/node_modules" ]]; then
  echo "installing the peer's pinned node packages (npm ci in $peers/oidc-provider)"
  (cd "$peers/oidc-provider" && npm ci --no-audit --no-fund --silent)
fi

free_port() { "$bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url: wait up to 30 s for an answer
  for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "error: $1 did not come up" >&2; return 1
}
field() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<"$2"; }

declare -A ours peer
tmp_root=$(mktemp -d)
pids=()
pg_bin="" pg_port="" pg_as=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ -n $pg_bin ]]; then
    "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$tmp_root/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp_root"
}
trap cleanup EXIT

start_postgres() { # a throwaway cluster, as tests/support/postgres.py starts one
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -1)
  [[ -x "$pg_bin/initdb" ]] || { echo "error: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  pg_port=$(free_port)
  mkdir -p "$tmp_root/pg"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$tmp_root" "$tmp_root/pg"; chmod 755 "$tmp_root"; pg_as=(runuser -u postgres --); fi
  "${pg_as[@]}" "$pg_bin/initdb" -D "$tmp_root/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
  # Durability off: the data lives for this run. The token path only reads.
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$tmp_root/pg/data" -l "$tmp_root/pg/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp_root/pg -c fsync=off -c synchronous_commit=off -c shared_buffers=512MB" \
    start >/dev/null
}

database_url() { # dir name: a fresh database for one run
  if [[ $bench_db == sqlite ]]; then echo "sqlite:///$1/bench.db"; return; fi
  "${pg_as[@]}" "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $2" >/dev/null
  echo "postgresql+psycopg://postgres@127.0.0.1:$pg_port/$2"
}

run_ours() { # alg apps
  local alg=$1 apps=$2 dir port pid creds id secret line
  dir=$(mktemp -d -p "$tmp_root")
  chmod 755 "$dir"
  port=$(free_port)
  CONTROLPLANE_DATABASE_URL=$(database_url "$dir" "bench_${alg,,}_$apps")
  export CONTROLPLANE_DATABASE_URL CONTROLPLANE_INSTANCE_PATH="$dir"
  export CONTROLPLANE_SECRET_KEY="bench-only-secret-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  export CONTROLPLANE_SIGNING_ALG="$alg" CONTROLPLANE_ISSUER="http://127.0.0.1:$port"
  "$bin/controlplane" db upgrade >/dev/null 2>&1
  local t0=$SECONDS
  creds=$("$bin/controlplane" bench seed --apps "$apps" --json 2>/dev/null)
  local seed_s=$((SECONDS - t0))
  echo "  seeded $apps apps in $seed_s s" >&2
  if [[ $bench_db == postgresql ]]; then
    # Measure the steady state, not a bulk load's aftermath: set the hint bits and visibility
    # map now and flush the dirty pages, instead of autovacuum and the checkpointer doing it
    # on the same CPUs during the load.
    "${pg_as[@]}" "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U postgres -d "bench_${alg,,}_$apps" \
      -c "VACUUM (ANALYZE) app, tenant" -c "CHECKPOINT" >/dev/null
  fi
  id=$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$creds")
  secret=$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$creds")
  (cd "$root" && exec "$bin/gunicorn" --workers "$workers" --worker-class sync \
      --bind "127.0.0.1:$port" --log-level warning wsgi:app) >"$dir/gunicorn.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
  line=$(SERVER_PID=$pid "$peers/bench-token.sh" "http://127.0.0.1:$port/connect/token" "$id" "$secret") || {
    echo "error: the benchmark of controlplane failed; gunicorn's log:" >&2; cat "$dir/gunicorn.log" >&2
    return 1
  }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  unset CONTROLPLANE_DATABASE_URL CONTROLPLANE_INSTANCE_PATH CONTROLPLANE_SECRET_KEY \
    CONTROLPLANE_SIGNING_ALG CONTROLPLANE_ISSUER
  echo "$line seed_s=$seed_s"
}

run_peer() { # alg
  local alg=$1 port pid line
  port=$(free_port)
  (cd "$peers/oidc-provider" && ALG="$alg" PORT="$port" exec node server.mjs) >"$tmp_root/peer-$alg.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
  sleep 0.5
  line=$(SERVER_PID=$pid "$peers/bench-token.sh" "http://127.0.0.1:$port/token" bench \
    bench-secret-7f3c9a1e5b2d4f6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d) || {
    echo "error: the peer benchmark failed; its log:" >&2; cat "$tmp_root/peer-$alg.log" >&2
    return 1
  }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$line"
}

if [[ $bench_db == postgresql ]]; then start_postgres; fi
{
  echo "# make bench $(date -u +%FT%TZ) on $(nproc) CPUs; gunicorn $workers sync workers, $bench_db"
  for alg in $algs; do
    echo "== $alg"
    echo "peer (oidc-provider, 1 process):" >&2
    peer[$alg]=$(run_peer "$alg")
    echo "peer     $alg: ${peer[$alg]}"
    for apps in $app_counts; do
      echo "controlplane, $apps apps:" >&2
      ours[$alg/$apps]=$(run_ours "$alg" "$apps")
      echo "ours     $alg apps=$apps: ${ours[$alg/$apps]}"
    done
  done
  echo
  echo "summary (tokens/s, p99 ms; ratio = ours / peer; apps ratio = at most apps / at 1 app)"
  for alg in $algs; do
    p=$(field tokens_per_s "${peer[$alg]}")
    for apps in $app_counts; do
      o=$(field tokens_per_s "${ours[$alg/$apps]}")
      p99=$(field p99_ms "${ours[$alg/$apps]}")
      awk -v a="$alg" -v n="$apps" -v o="$o" -v p="$p" -v q="$p99" \
        'BEGIN { printf "  %s apps=%-7s ours=%6.0f peer=%6.0f ratio=%.2f p99=%.1f ms\n", a, n, o, p, o / p, q }'
    done
    first=${app_counts%% *}; last=${app_counts##* }
    if [[ "$first" != "$last" ]]; then
      awk -v a="$alg" -v f="$(field tokens_per_s "${ours[$alg/$first]}")" \
        -v l="$(field tokens_per_s "${ours[$alg/$last]}")" -v n="$last" \
        'BEGIN { printf "  %s %s apps / 1 app = %.2f\n", a, n, l / f }'
    fi
  done
} | tee "$out"
echo "kept in ${out#"$root"/}"
