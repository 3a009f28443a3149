#!/usr/bin/env bash
# The order-processor demo (docs/deploy.md): a broker, the ORDERS stream, an
# order service and three consumers, through a consumer outage and a broker
# crash (kill -9), then a check that no acknowledged order was lost or
# processed twice.
#
#   examples/order-processor/demo.sh
#
# Environment:
#   FJORD_BIN      broker binary (default build/bin/fjord-server; any
#                  nats-server works too, e.g. FJORD_BIN=$(which nats-server))
#   FJORD_CLI      fjord CLI (default build/bin/fjord)
#   EXAMPLES_BIN   directory of order-service, shipping, invoicing, analytics
#                  (default: the directory of FJORD_CLI, i.e. build/bin)
#   DEMO_NODES     1 (default): one broker; 3 (or more): a cluster of that
#                  many brokers (every one listing every route), the clients
#                  given all their URLs, and the kill -9 hits the server that
#                  holds ORDERS (its leader, with more than one replica)
#   DEMO_REPLICAS  the ORDERS stream's replicas (default 1; up to
#                  DEMO_NODES): with 3, killing its leader hands ORDERS and
#                  the consumers to another replica while orders go on
#   KEEP_WORKDIR=1 keep the temporary directory (logs, store) afterwards
#   LOST_ACKS      fail (default) or allow: whether an order processed again
#                  after its ack was confirmed fails the demo. The default is
#                  allow when FJORD_BIN is nats-server: nats-server 2.9
#                  confirms an ack before its background flusher writes the
#                  consumer state, so a kill -9 makes it redeliver a few
#                  recently acked orders (docs/deploy.md).
#
# Exits 0 only if every check passes. Every wait is bounded; the whole run
# takes about 15 s and gives up long before 60 s.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FJORD_BIN=${FJORD_BIN:-$ROOT/build/bin/fjord-server}
FJORD_CLI=${FJORD_CLI:-$ROOT/build/bin/fjord}
EXAMPLES_BIN=${EXAMPLES_BIN:-$(dirname "$FJORD_CLI")}
DEADLINE=$((SECONDS + 55))
if [ "${LOST_ACKS:-auto}" = auto ]; then
  case $(basename "$FJORD_BIN") in nats-server*) LOST_ACKS=allow ;; *) LOST_ACKS=fail ;; esac
fi

for b in "$FJORD_BIN" "$FJORD_CLI" "$EXAMPLES_BIN"/{order-service,shipping,invoicing,analytics}; do
  [ -x "$b" ] || { echo "demo: $b is missing (build with ./dev build, or set FJORD_BIN/FJORD_CLI/EXAMPLES_BIN)" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fjord-demo.XXXXXX")
declare -A PIDS=()  # name -> pid of every process this script started
NODES=${DEMO_NODES:-1}
REPLICAS=${DEMO_REPLICAS:-1}
SERVER_PIDS=()  # by node index
PASSED=0

cleanup() {
  for name in "${!PIDS[@]}"; do kill -TERM "${PIDS[$name]}" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$PASSED" = 1 ] && [ -z "${KEEP_WORKDIR:-}" ]; then rm -rf "$WORK"; else echo "demo: logs kept in $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

# Polls a command until it succeeds, at most $1 seconds (and never past the
# demo's own deadline).
wait_until() {
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  ((end > DEADLINE)) && end=$DEADLINE
  until "$@"; do
    ((SECONDS < end)) || fail "timed out waiting for $what"
    sleep 0.1
  done
}

# The configuration is deploy/nats.conf with a free loopback port and a
# temporary store, so the demo exercises the file shipped in the package. A
# cluster adds server names, a cluster block and a store each.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORTS=() CPORTS=() URLS=()
for ((i = 0; i < NODES; i++)); do
  PORTS[i]=$(free_port)
  CPORTS[i]=$(free_port)
  URLS[i]=nats://127.0.0.1:${PORTS[i]}
done
ROUTES=$(for p in "${CPORTS[@]}"; do printf '"nats://127.0.0.1:%s", ' "$p"; done)
for ((i = 0; i < NODES; i++)); do
  store=$WORK/store
  ((NODES > 1)) && store=$WORK/store$((i + 1))
  sed -e "s|^listen:.*|listen: 127.0.0.1:${PORTS[i]}|" \
      -e "s|store_dir:.*|store_dir: \"$store\"|" \
      "$ROOT/deploy/nats.conf" >"$WORK/nats$i.conf"
  if ((NODES > 1)); then
    sed -i "s|^server_name:.*|server_name: fjord-$((i + 1))|" "$WORK/nats$i.conf"
    printf 'cluster {\n  name: demo\n  listen: 127.0.0.1:%s\n  routes: [ %s ]\n}\n' \
      "${CPORTS[i]}" "${ROUTES%, }" >>"$WORK/nats$i.conf"
  fi
done
TOKEN=$(sed -n 's/^ *token: *"\(.*\)".*/\1/p' "$WORK/nats0.conf")
[ -n "$TOKEN" ] || fail "no token in deploy/nats.conf"
URL=$(IFS=,; echo "${URLS[*]}")
CLI=("$FJORD_CLI" --server="$URL" --token="$TOKEN")

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_node() { # index
  "$FJORD_BIN" -c "$WORK/nats$1.conf" >>"$WORK/server$1.log" 2>&1 &
  SERVER_PIDS[$1]=$!
  wait_until 10 "the broker to listen on ${PORTS[$1]}" port_open "${PORTS[$1]}"
}
start_servers() { for ((i = 0; i < NODES; i++)); do start_node "$i"; done; }

start_service() { # name
  "$EXAMPLES_BIN/$1" --server="$URL" --token="$TOKEN" --log="$WORK/$1.log" >>"$WORK/$1.out" 2>&1 &
  PIDS[$1]=$!
}

stop_service() { # name: SIGTERM, and it must exit cleanly within 5 s
  local pid=${PIDS[$1]} rc=0
  kill -TERM "$pid"
  wait_until 5 "$1 to stop" bash -c "! kill -0 $pid 2>/dev/null"
  wait "$pid" || rc=$?
  unset "PIDS[$1]"
  ((rc == 0)) || fail "$1 exited with status $rc on SIGTERM (see $WORK/$1.out)"
}

start_orders() { # prefix count rate: order-service in the background
  "$EXAMPLES_BIN/order-service" --server="$URL" --token="$TOKEN" --prefix="$1" --count="$2" --rate="$3" \
    --log="$WORK/orders.log" >>"$WORK/order-service.out" 2>&1 &
  PIDS[order-service]=$!
}

finish_orders() { # limit: order-service must finish in time and succeed
  local pid=${PIDS[order-service]} rc=0
  wait_until "$1" "order-service to finish" bash -c "! kill -0 $pid 2>/dev/null"
  wait "$pid" || rc=$?
  unset "PIDS[order-service]"
  ((rc == 0)) || fail "order-service exited with status $rc (see $WORK/order-service.out)"
}

# Distinct orders with an $2 event ("acked", "processed") in log $1.
count_ids() { awk -v ev="$2" '$1 == ev {print $2}' "$1" 2>/dev/null | sort -u | wc -l; }
acked_ids() { count_ids "$1" acked; }
caught_up() { # service expected
  [ "$(count_ids "$WORK/$1.log" processed)" -ge "$2" ]
}
all_caught_up() {
  local n; n=$(acked_ids "$WORK/orders.log")
  caught_up shipping "$n" && caught_up invoicing "$n" && caught_up analytics "$n"
}
show() { tail -n "${2:-2}" "$WORK/$1.out" | sed 's/^/    /'; }
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# The broker agrees the consumer is done: nothing undelivered, nothing
# awaiting an ack. An order whose ack was lost in the crash is redelivered
# first; one whose ack reached the broker but whose confirmation did not is
# complete too.
consumer_done() { # durable
  [ "$("${CLI[@]}" consumer info ORDERS "$1" --json 2>/dev/null |
       json_field 'd["num_pending"] + d["num_ack_pending"]' 2>/dev/null)" = 0 ]
}
if ((NODES > 1)); then
  say "starting a cluster of $NODES $(basename "$FJORD_BIN") servers on ${PORTS[*]} (config from deploy/nats.conf)"
else
  say "starting $(basename "$FJORD_BIN") on 127.0.0.1:${PORTS[0]} (config from deploy/nats.conf, store in $WORK/store)"
fi
start_servers

say "creating the ORDERS stream"
echo "    fjord stream add ORDERS --subjects=\"orders.>\" --storage=file --replicas=$REPLICAS --retention=limits --max-msgs=100000 --discard=old"
# The broker may take a moment to enable JetStream after it starts listening.
stream_add() {
  "${CLI[@]}" stream add ORDERS --subjects="orders.>" --storage=file --replicas="$REPLICAS" --retention=limits \
    --max-msgs=100000 --discard=old </dev/null >"$WORK/stream-add.out" 2>&1
}
# A cluster first elects its meta leader.
wait_until 20 "fjord stream add (see $WORK/stream-add.out)" stream_add

say "starting shipping, invoicing and analytics (durable pull consumers)"
for s in shipping invoicing analytics; do start_service "$s"; done

say "publishing 200 orders"
start_orders a 200 400
finish_orders 15
wait_until 15 "the services to process the first 200 orders" all_caught_up
show order-service 2
for s in shipping invoicing analytics; do show "$s" 1; done

say "stopping invoicing; the shop keeps taking orders"
stop_service invoicing
start_orders b 200 400
finish_orders 15
n=$(acked_ids "$WORK/orders.log")
others_caught_up() { caught_up shipping "$n" && caught_up analytics "$n"; }
wait_until 15 "shipping and analytics to process $n orders" others_caught_up
pending=$("${CLI[@]}" consumer info ORDERS InvoiceProcessor --json | json_field 'd["num_pending"] + d["num_ack_pending"]')
echo "    InvoiceProcessor has $pending orders waiting while invoicing is down"
[ "$pending" -gt 0 ] || fail "InvoiceProcessor should have a backlog"

say "restarting invoicing: it catches up from its durable consumer"
t0=$SECONDS
start_service invoicing
wait_until 15 "invoicing to catch up to $n orders" caught_up invoicing "$n"
echo "    caught up on $pending orders in about $((SECONDS - t0)) s"
show invoicing 2

# In a cluster, the server that holds ORDERS (the others keep serving the
# clients that were connected to it).
victim=0
if ((NODES > 1)); then
  holder=$("${CLI[@]}" stream info ORDERS --json | json_field 'd["cluster"]["leader"]')
  victim=$((${holder#fjord-} - 1))
  if ((REPLICAS > 1)); then
    say "publishing 400 more orders and killing $holder, the leader of ORDERS' $REPLICAS replicas, with -9 midway"
  else
    say "publishing 400 more orders and killing $holder, the server holding ORDERS, with -9 midway"
  fi
else
  say "publishing 400 more orders and killing the broker with -9 midway"
fi
start_orders c 400 200
sleep 0.8
kill -9 "${SERVER_PIDS[victim]}"
wait "${SERVER_PIDS[victim]}" 2>/dev/null || true
echo "    broker killed after $(acked_ids "$WORK/orders.log") acknowledged orders; restarting it in 0.5 s"
sleep 0.5
start_node "$victim"
finish_orders 30
show order-service 1
wait_until 20 "every service to process every acknowledged order" all_caught_up
for d in ShippingProcessor InvoiceProcessor AnalyticsProcessor; do
  wait_until 10 "$d to have no pending or unacknowledged orders" consumer_done "$d"
done

say "stopping the services"
for s in shipping invoicing analytics; do stop_service "$s"; done
show shipping 1; show invoicing 1; show analytics 1

say "checking"
stream_msgs=$("${CLI[@]}" stream info ORDERS --json | json_field 'd["state"]["messages"]')
rc=0
python3 - "$WORK" "$stream_msgs" "$LOST_ACKS" <<'EOF' || rc=$?
# Rules: every order acknowledged to order-service is in the stream once and
# was processed by each service; after a confirmed ack ("acked") an order must
# never be processed again by the same service. A repeat is allowed only
# after "ack-failed" (the ack was never confirmed).
import sys
work, stream_msgs, lost_acks = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def events(path):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2:
                yield parts[0], parts[1], parts[2:]

orders, pub_dups = set(), 0
for ev, oid, rest in events(f"{work}/orders.log"):
    if ev == "acked":
        orders.add(oid)
        pub_dups += "duplicate" in rest
retries = open(f"{work}/order-service.out").read().count("not acknowledged")
problems, any_twice = [], False
print(f"    orders acknowledged to order-service: {len(orders)} "
      f"({retries} publish retries, {pub_dups} answered as duplicates by the stream)")
print(f"    messages in stream ORDERS: {stream_msgs}")
if stream_msgs != len(orders):
    problems.append(f"stream holds {stream_msgs} messages for {len(orders)} distinct orders")

for svc in ("shipping", "invoicing", "analytics"):
    state, redeliveries, twice = {}, 0, []
    for ev, oid, _ in events(f"{work}/{svc}.log"):
        prev = state.get(oid)
        if ev == "processed":
            if prev == "acked":
                twice.append(oid)
            elif prev is not None:
                redeliveries += 1
        state[oid] = ev
    missing = sorted(o for o in orders if o not in state)
    unknown = sorted(o for o in state if o not in orders)
    print(f"    {svc}: {sum(1 for o in orders if o in state)} of {len(orders)} orders processed, "
          f"{len(twice)} processed again after a confirmed ack, "
          f"{redeliveries} redelivered after an unconfirmed ack")
    if missing:
        problems.append(f"{svc} never processed {len(missing)} acknowledged orders, e.g. {missing[:5]}")
    any_twice = any_twice or bool(twice)
    if twice and lost_acks == "allow":
        print(f"    note: {svc} got {len(twice)} orders again after a confirmed ack (LOST_ACKS=allow)")
    elif twice:
        problems.append(f"{svc} processed {len(twice)} orders again after a confirmed ack, e.g. {twice[:5]}")
    # Orders the broker stored but whose publish ack never arrived would
    # appear here; order-service retries until acked, so there are none.
    if unknown:
        problems.append(f"{svc} processed {len(unknown)} orders never acknowledged to order-service, e.g. {unknown[:5]}")

for p in problems:
    print(f"    PROBLEM: {p}")
# 3: passed only because LOST_ACKS=allow excused repeats.
sys.exit(1 if problems else 3 if lost_acks == "allow" and any_twice else 0)
EOF
case $rc in
  0) PASSED=1
     say "PASS: no acknowledged order lost or processed twice, through a consumer outage and a broker kill -9 ($SECONDS s)" ;;
  3) PASSED=1
     say "PASS with LOST_ACKS=allow: no acknowledged order lost; some were processed again after a confirmed ack ($SECONDS s)" ;;
  *) fail "see the problems above" ;;
esac
