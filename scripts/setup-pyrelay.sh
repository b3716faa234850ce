#!/usr/bin/env bash
# Install the Python Nostr relay (PyPI nostr-relay 1.14) used as an external interop relay by
# crates/net/tests/nostr_interop.rs and the relay benchmark. Idempotent; ~20 s on a fresh machine.
# Installs into <repo>/target/pyrelay-venv (override with PYRELAY_VENV); the tests find it there
# or via TOLLCAST_PYRELAY=<path to the nostr-relay executable>.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PYRELAY_VENV:-$root/target/pyrelay-venv}"
if [ -x "$venv/bin/nostr-relay" ] && "$venv/bin/python" -c 'import nostr_relay' 2>/dev/null; then
  echo "nostr-relay already installed in $venv"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "python3 venv module missing: apt-get install -y python3-venv" >&2
  exit 1
fi
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "nostr-relay==1.14"
"$venv/bin/nostr-relay" --help >/dev/null
echo "nostr-relay installed: $venv/bin/nostr-relay"
