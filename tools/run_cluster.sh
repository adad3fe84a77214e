#!/usr/bin/env bash
# The outgrown configuration on this machine: a fresh Postgres, N Streamlit servers on it (one shared file
# folder) and HAProxy in front with sticky sessions, all on loopback; Ctrl+C stops them all.
#   tools/run_cluster.sh [FOLDER] [SERVERS]      (default: cluster/ in the project, 2 servers)
# Installs Debian's postgresql and haproxy when missing. Prints the proxy's address and the first admin's
# one-time password; the store's address (with its database password) is in FOLDER/store-address.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup_venv.sh requirements.txt
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/sbin/haproxy ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql haproxy >/dev/null
fi
export HF_HUB_OFFLINE=1 MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
exec .venv/bin/python tools/run_cluster.py "${1:-cluster}" "${2:-2}"
