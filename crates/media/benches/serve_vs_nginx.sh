#!/usr/bin/env bash
# Parts/s served: the tollcast origin vs nginx serving the same content-addressed files.
# Records ~6 s of the synthetic stream with `tollcast origin`, then loads both servers with the
# same keep-alive GET generator (tests/interop/hls/load.mjs) over every part and segment.
# Usage: crates/media/benches/serve_vs_nginx.sh [path to tollcast binary] [connections] [seconds] [runs]
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/tollcast}"
conns="${2:-8}"; secs="${3:-4}"; runs="${4:-3}"
work="$(mktemp -d)"
cleanup() { for p in $(jobs -p); do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port_o=$((20000 + RANDOM % 10000)); port_n=$((port_o + 1))
"$bin" origin --source synthetic --size 640x360 --duration 6 --listen 127.0.0.1:$port_o \
  --store-dir "$work/chunks" > "$work/origin.out" 2> "$work/origin.err" &
for _ in $(seq 1 120); do grep -q "stream ended" "$work/origin.err" 2>/dev/null && break; sleep 0.25; done
grep -q "stream ended" "$work/origin.err" || { cat "$work/origin.err"; exit 1; }
ls "$work/chunks/blobs" | grep -E '^[0-9a-f]{64}$' | sed 's|^\(.*\)$|/\1.m4s|' > "$work/paths"
echo "chunks: $(wc -l < "$work/paths") files, $(du -sh "$work/chunks/blobs" | cut -f1)"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
user root;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port_n;
    root $work/chunks/blobs;
    location ~ "^/([0-9a-f]{64})(\.[a-z0-9]+)?$" {
      default_type video/mp4;
      add_header Cache-Control "public, max-age=31536000, immutable";
      try_files /\$1 =404;
    }
  }
}
CONF
nginx -c "$work/nginx.conf" &
sleep 0.5
for i in $(seq 1 "$runs"); do
  echo "run $i origin: $(node "$root/tests/interop/hls/load.mjs" http://127.0.0.1:$port_o "$work/paths" "$conns" "$secs")"
  echo "run $i nginx:  $(node "$root/tests/interop/hls/load.mjs" http://127.0.0.1:$port_n "$work/paths" "$conns" "$secs")"
done
