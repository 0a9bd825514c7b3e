#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with only Rust installed.
# Installs and starts what the tests need when it is missing (Redis, PostgreSQL), reuses it
# when it already runs, then runs every test of the workspace in one shared build.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
need_pkg() { # need_pkg <command> <debian packages...>
  local cmd=$1; shift
  if ! command -v "$cmd" >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/"$cmd" >/dev/null 2>&1; then
    echo "test.sh: installing $* (missing $cmd)"
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# --- Redis: 127.0.0.1:6379, nothing kept on disk ---
need_pkg redis-server redis-server
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "test.sh: starting redis-server"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/mktpost-redis.log
fi

# --- PostgreSQL: 127.0.0.1:5432, trust auth for user postgres on loopback ---
need_pkg pg_ctlcluster postgresql
pg_ready() { psql "postgres://postgres@127.0.0.1:5432/postgres" -Atc 'select 1' >/dev/null 2>&1; }
if ! pg_ready; then
  echo "test.sh: starting PostgreSQL"
  ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  if [ -z "$ver" ]; then
    ver=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    as_root pg_createcluster "$ver" main >/dev/null
  fi
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 60); do pg_ready && break; sleep 0.5; done
  pg_ready || { echo "test.sh: PostgreSQL did not start" >&2; exit 1; }
fi

# --- Chromium + chromedriver for the browser tests ---
need_pkg chromium chromium
need_pkg chromedriver chromium-driver

export TEST_POSTGRES_URL=${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
# The Firestore conformance run is required here (a missing emulator fails, never skips):
# Debian's google-cloud-cli-firestore-emulator package and Java provide it on our machines.
export MKTPOST_REQUIRE_FIRESTORE=${MKTPOST_REQUIRE_FIRESTORE:-1}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/}

# The crash test runs real `mktpost worker` processes: build the binary in the same profile first.
cargo build --bin mktpost --locked
cargo test --workspace --lib --bins --tests --locked "$@"
