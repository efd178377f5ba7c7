#!/usr/bin/env bash
# The whole comparison in one command:
#
#   crates/lode-bench/run.sh [lode-bench options, e.g. --lots 3000 --runs 3 --json bench.json]
#
# Builds lode-bench (release), starts a throwaway PostgreSQL cluster on a free loopback port in a
# temporary directory (unless LODE_BENCH_PG already names a server), runs the comparison with its
# work directory beside the cluster (the same disk for every system), then stops the cluster and
# removes everything it made. When PostgreSQL's server binaries are missing and this runs as root
# with apt-get, it installs Debian's `postgresql` package first; if that fails, the comparison runs
# without PostgreSQL and its table says why.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

cargo build --release -p lode-bench --manifest-path "$root/Cargo.toml"
bench="$target/release/lode-bench"

work="$(mktemp -d "${TMPDIR:-/tmp}/lode-bench-run.XXXXXX")"
# The cluster's owner must be able to reach its directory inside this one.
chmod 755 "$work"
pg_bin=""
pg_user=""

# Runs a command as the cluster's owner: initdb refuses to run as root.
as_pg() {
  if [[ -z "$pg_user" ]]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u "$pg_user" -- "$@"
  else
    su "$pg_user" -s /bin/sh -c "$(printf '%q ' "$@")"
  fi
}

cleanup() {
  if [[ -n "$pg_bin" && -f "$work/pg/postmaster.pid" ]]; then
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

find_pg_bin() {
  # The newest installed major version.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

free_port() {
  local port
  for port in $(seq 55432 55531); do
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

if [[ -z "${LODE_BENCH_PG:-}" ]]; then
  pg_bin="$(find_pg_bin)"
  if [[ -z "$pg_bin" && "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "run.sh: installing PostgreSQL (apt-get install -y postgresql)" >&2
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; then
      pg_bin="$(find_pg_bin)"
    else
      echo "run.sh: could not install PostgreSQL; running without it" >&2
    fi
  fi
  if [[ -n "$pg_bin" ]]; then
    if [[ "$(id -u)" -eq 0 ]]; then
      if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
    fi
    mkdir -p "$work/pg" "$work/pg-run"
    if [[ -n "$pg_user" ]]; then chown "$pg_user" "$work/pg" "$work/pg-run"; fi
    port="$(free_port)" || { echo "run.sh: no free loopback port in 55432-55531" >&2; exit 2; }
    # Trust authentication is acceptable only because the server listens on the loopback
    # interface alone and lives for this run.
    as_pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 --no-instructions >/dev/null
    # Durability stays at PostgreSQL's defaults (fsync=on, synchronous_commit=on): the report
    # prints them as the server states them.
    as_pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg-run/server.log" -w -o \
      "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$work/pg-run" start >/dev/null
    export LODE_BENCH_PG="postgres://postgres@127.0.0.1:$port/postgres"
    echo "run.sh: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $work/pg" >&2
  else
    echo "run.sh: no PostgreSQL server binaries; running without PostgreSQL" >&2
  fi
fi

mkdir -p "$work/bench"
"$bench" --work "$work/bench" "$@"
