#!/usr/bin/env bash
# TLS pub/sub throughput, Fjord against nats-server, same certificates, libnats client (fjord bench).
# Usage: bash bench/tls_compare.sh   (from the repository root, after ./dev build)
set -euo pipefail
C=${CERTS:-$(mktemp -d)}; CLI=${CLI:-build/bin/fjord}
bash tests/tls/make_certs.sh "$C"
printf 'tls { cert_file: "%s/server-cert.pem", key_file: "%s/server-key.pem", ca_file: "%s/ca.pem" }\n' $C $C $C > /tmp/tlsbench.conf
one() { # name bin port mode
  $2 -a 127.0.0.1 -p $3 -c /tmp/tlsbench.conf >/dev/null 2>&1 & local pid=$!; sleep 1
  $CLI bench -s tls://127.0.0.1:$3 --tlsca $C/ca.pem bench.x $4 --msgs 1000000 --size 128 --no-progress --json |
    python3 -c "import json,sys; r=json.load(sys.stdin)['results']; print('$1', '$4', *(f'{k} {round(v[\"msgs_per_sec\"])}' for k,v in r.items()))"
  kill $pid; wait $pid 2>/dev/null
}
for round in 1 2 3; do
  for mode in "--pub 1 --sub 1" "--pub 1 --sub 0"; do
    one fjord build/bin/fjord-server 14222 "$mode"
    one nats-server "${NATS:-/usr/sbin/nats-server}" 14223 "$mode"
  done
done
