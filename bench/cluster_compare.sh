#!/usr/bin/env bash
# cluster_compare.sh - cross-node throughput and request/reply latency through
# routes: a 3-node cluster of A (Fjord) against a 3-node cluster of B
# (nats-server), same client (bench/cluster_bench.c on libnats), same run.
# Modelled on ../shared/bench/compare.sh (see its README for the method).
#
#   bash bench/cluster_compare.sh [options]
#
# Options:
#   -A PATH    server binary of cluster A (default build/bin/fjord-server)
#   -B PATH    server binary of cluster B (default /usr/sbin/nats-server)
#   -s LIST    scenarios, comma separated, or all (default all:
#              xpubsub,xfanout,xqueue,xreqrep)
#   -r R       rounds (default 3)
#   -n N       messages for xpubsub/xfanout/xqueue (default 1000000)
#   -q N       requests for xreqrep (default 10000)
#   -S BYTES   payload size (default 128)
#   -k K       xfanout subscribers per node B and C (default 2)
#   -T SECS    deadline of one client run (default 60; killed 30 s later)
#   -O ORDER   abba (default: A,B then B,A in even rounds) or ab (always A,B)
#   -Q SECS    before each run wait up to SECS (default 5; 0 = off) for other
#              processes to use under 10% of the CPU
#   -W         skip the untimed warm-up
#   -o DIR     keep results and logs in DIR (default: a new temp dir)
#
# Both clusters are started once and run for the whole run, side by side on
# 127.0.0.1 (each node: client, cluster and http port, a config file; nodes 2
# and 3 route to node 1), and must show num_routes 2 on every node's /routez
# before the first run. Publisher / requester on node 1, subscribers /
# responder on nodes 2 and 3. A dead node restarts its whole cluster (at most
# 3 times); the run it died in fails.
# Output: medians, and the median over rounds of per-round ratios; ratio > 1
# means A is better (A/B for rates, B/A for latencies); then server CPU per
# run (all three nodes, and per node), peak RSS, and "ratio geomean: X" over
# the rate rows. Results and node logs stay in the results dir.
# Exit status: 0 all runs ok, 1 a run failed or a cluster restarted, 2 usage.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
ALL_SCEN="xpubsub xfanout xqueue xreqrep"

usage() { sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; }

BIN_A="$ROOT/build/bin/fjord-server" BIN_B=/usr/sbin/nats-server
SCEN=all ROUNDS=3 NMSG="" NREQ="" SIZE="" KOPT="" RUN_T=60 ORDER=abba QUIET_MAX=5 WARMUP=1 OUTDIR=""
while getopts "A:B:s:r:n:q:S:k:T:O:Q:Wo:h" opt; do
    case $opt in
    A) BIN_A=$OPTARG ;;
    B) BIN_B=$OPTARG ;;
    s) SCEN=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    n) NMSG=$OPTARG ;;
    q) NREQ=$OPTARG ;;
    S) SIZE=$OPTARG ;;
    k) KOPT=$OPTARG ;;
    T) RUN_T=$OPTARG ;;
    O) ORDER=$OPTARG ;;
    Q) QUIET_MAX=$OPTARG ;;
    W) WARMUP=0 ;;
    o) OUTDIR=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }
for v in "$ROUNDS" "$RUN_T" "$QUIET_MAX"; do case $v in '' | *[!0-9]*) echo "bad number: $v" >&2; exit 2 ;; esac; done
for v in "$NMSG" "$NREQ" "$SIZE" "$KOPT"; do case $v in *[!0-9]*) echo "bad number: $v" >&2; exit 2 ;; esac; done
[ "$ROUNDS" -ge 1 ] || { echo "bad -r" >&2; exit 2; }
case $ORDER in abba | ab) ;; *) echo "bad -O (abba|ab)" >&2; exit 2 ;; esac
SCENARIOS=""
for w in ${SCEN//,/ }; do
    case $w in
    all) SCENARIOS="$SCENARIOS $ALL_SCEN" ;;
    *) case " $ALL_SCEN " in *" $w "*) SCENARIOS="$SCENARIOS $w" ;;
       *) echo "unknown scenario: $w (known: $ALL_SCEN)" >&2; exit 2 ;; esac ;;
    esac
done
[ -n "$SCENARIOS" ] || { echo "no scenario selected" >&2; exit 2; }
for b in "$BIN_A" "$BIN_B"; do [ -x "$b" ] || { echo "not an executable: $b" >&2; exit 2; }; done
command -v curl >/dev/null || { echo "needs curl" >&2; exit 2; }

die() { echo "cluster_compare.sh: $*" >&2; exit 1; }
TCK=$(getconf CLK_TCK)
NPROC=$(nproc)

# --- client: built once per source version into a writable cache dir ------
SUM=$(cksum <"$HERE/cluster_bench.c" | cut -d' ' -f1)
BDIR="${TMPDIR:-/tmp}/cluster-bench-build-$(id -u)"
BIN="$BDIR/cluster_bench-$SUM"
if [ ! -x "$BIN" ]; then
    mkdir -p "$BDIR" || die "cannot create $BDIR"
    ${CC:-cc} -O2 -Wall -o "$BIN.$$" "$HERE/cluster_bench.c" -lnats -lpthread -lm ||
        die "building cluster_bench failed (needs libnats-dev)"
    mv -f "$BIN.$$" "$BIN"
fi

if [ -n "$OUTDIR" ]; then
    mkdir -p "$OUTDIR" || die "cannot create $OUTDIR"
    WORK=$(cd "$OUTDIR" && pwd)
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/clustercmp.XXXXXX") || die "mktemp failed"
fi
RES="$WORK/results.tsv"
: >"$RES"

# --- /proc readers (set globals; no command substitution in the loop) -----
PSTATE="" PTICKS=""
proc_stat() {
    local line rest f
    PSTATE="" PTICKS=""
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    IFS= read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    rest=${line##*) }
    read -r -a f <<<"$rest"
    PSTATE=${f[0]}
    PTICKS=$((f[11] + f[12]))
}
alive() { proc_stat "$1" && [ "$PSTATE" != Z ] && [ "$PSTATE" != X ]; }
BUSY=0
busy_ticks() {
    local _c u n s _i _w irq sirq st
    read -r _c u n s _i _w irq sirq st _ </proc/stat
    BUSY=$((u + n + s + irq + sirq + st))
}
KB=""
mem_kb() {
    local k v _u
    KB=""
    [ -n "$1" ] && [ -r "/proc/$1/status" ] || return 1
    while read -r k v _u; do
        if [ "$k" = "$2:" ]; then KB=$v; return 0; fi
    done 2>/dev/null <"/proc/$1/status"
    return 1
}

# --- clusters: side S (A|B), nodes 1..3 -------------------------------------
declare -A SBIN PID PORT CPORT MPORT RESTARTS KILLED PEAK PEAKN
SBIN[A]=$BIN_A
SBIN[B]=$BIN_B
USED=" "
pick_port() { # -> P, distinct from every port handed out in this run
    local i
    for ((i = 0; i < 50; i++)); do
        P=$("$BIN" -P) || return 1
        case $USED in *" $P "*) continue ;; esac
        USED="$USED$P "
        return 0
    done
    return 1
}
for s in A B; do
    RESTARTS[$s]=0 KILLED[$s]=0 PEAK[$s]=0 PEAKN[$s]=-
    for i in 1 2 3; do
        PID[$s$i]=""
        pick_port || die "no free port"; PORT[$s$i]=$P
        pick_port || die "no free port"; CPORT[$s$i]=$P
        pick_port || die "no free port"; MPORT[$s$i]=$P
    done
    for i in 1 2 3; do
        {
            echo "server_name: ${s,,}$i"
            echo "listen: 127.0.0.1:${PORT[$s$i]}"
            echo "http: 127.0.0.1:${MPORT[$s$i]}"
            echo "cluster {"
            echo "  name: bench"
            echo "  listen: 127.0.0.1:${CPORT[$s$i]}"
            [ "$i" = 1 ] || echo "  routes: [nats-route://127.0.0.1:${CPORT[${s}1]}]"
            echo "}"
        } >"$WORK/$s$i.conf"
    done
done

note_peak() { # side: largest VmHWM of any node
    local i
    for i in 1 2 3; do
        mem_kb "${PID[$1$i]}" VmHWM || continue
        [ "$KB" -gt "${PEAK[$1]}" ] && PEAK[$1]=$KB && PEAKN[$1]=$i
    done
    return 0
}

stop_cluster() {
    local s=$1 i j pid
    note_peak "$s"
    for i in 1 2 3; do
        pid=${PID[$s$i]}
        [ -n "$pid" ] && alive "$pid" && kill -TERM "$pid" 2>/dev/null
    done
    for i in 1 2 3; do
        pid=${PID[$s$i]}
        [ -n "$pid" ] || continue
        for ((j = 0; j < 100; j++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            echo "cluster_compare.sh: $s$i (pid $pid) ignored SIGTERM for 10 s, sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            KILLED[$s]=1
        fi
        wait "$pid" 2>/dev/null
        PID[$s$i]=""
    done
}

ROUTES=""
num_routes() { # side node -> ROUTES (empty when the monitor does not answer)
    local out
    ROUTES=""
    out=$(curl -s --max-time 2 "http://127.0.0.1:${MPORT[$1$2]}/routez" 2>/dev/null) || return 1
    [[ $out =~ \"num_routes\":\ *([0-9]+) ]] && ROUTES=${BASH_REMATCH[1]}
}

start_cluster() {
    local s=$1 i t ok
    for i in 1 2 3; do
        echo "=== $(date '+%F %T') start: ${SBIN[$s]} -c $WORK/$s$i.conf" >>"$WORK/$s$i.log"
        "${SBIN[$s]}" -c "$WORK/$s$i.conf" >>"$WORK/$s$i.log" 2>&1 </dev/null &
        PID[$s$i]=$!
    done
    for ((t = 0; t < 300; t++)); do # up to ~30 s for the full mesh
        ok=1
        for i in 1 2 3; do
            if ! alive "${PID[$s$i]}"; then
                echo "cluster_compare.sh: node $s$i exited; last lines of $WORK/$s$i.log:" >&2
                tail -n 15 "$WORK/$s$i.log" >&2
                stop_cluster "$s"
                return 1
            fi
            num_routes "$s" "$i"
            [ "${ROUTES:-0}" = 2 ] || ok=0
        done
        if [ "$ok" = 1 ] &&
            "$BIN" -a "nats://127.0.0.1:${PORT[${s}1]}" -b "nats://127.0.0.1:${PORT[${s}2]}" \
                -c "nats://127.0.0.1:${PORT[${s}3]}" -t 5 ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "cluster_compare.sh: cluster $s: not every node shows 2 routes after 30 s" >&2
    for i in 1 2 3; do num_routes "$s" "$i"; echo "  $s$i num_routes=${ROUTES:-?}" >&2; done
    stop_cluster "$s"
    return 1
}

FAILED=0
ensure_cluster() {
    local s=$1 i up=1
    for i in 1 2 3; do [ -n "${PID[$s$i]}" ] && alive "${PID[$s$i]}" || up=0; done
    [ "$up" = 1 ] && return 0
    stop_cluster "$s"
    [ "${RESTARTS[$s]}" -lt 3 ] || return 1
    RESTARTS[$s]=$((RESTARTS[$s] + 1))
    FAILED=1
    echo "cluster_compare.sh: cluster $s lost a node; restart ${RESTARTS[$s]}/3" >&2
    start_cluster "$s"
}

CLIENT_PID=""
cleanup() {
    if [ -n "$CLIENT_PID" ]; then
        kill -TERM "$CLIENT_PID" 2>/dev/null
        wait "$CLIENT_PID" 2>/dev/null
        CLIENT_PID=""
    fi
    for s in A B; do stop_cluster "$s"; done
}
trap cleanup EXIT
trap 'echo "cluster_compare.sh: interrupted" >&2; exit 130' INT TERM HUP

QUIET_WAITED=0
CT=0 CTN=()
cluster_ticks() { # side -> CT (sum of the three nodes' CPU ticks), CTN[1..3]
    local i
    CT=0 CTN=(0 0 0 0)
    for i in 1 2 3; do proc_stat "${PID[$1$i]}" && CT=$((CT + PTICKS)) && CTN[$i]=$PTICKS; done
}
wait_quiet() { # until processes other than the servers use < 10% (bounded)
    local i b0 a0 c0 foreign cap
    [ "$QUIET_MAX" -gt 0 ] || return 0
    cap=$((NPROC * TCK / 2))
    for ((i = 0; i < QUIET_MAX * 2; i++)); do
        busy_ticks; b0=$BUSY
        cluster_ticks A; a0=$CT
        cluster_ticks B; c0=$CT
        sleep 0.5
        busy_ticks
        cluster_ticks A; a0=$((CT - a0))
        cluster_ticks B; c0=$((CT - c0))
        foreign=$((BUSY - b0 - a0 - c0))
        [ $((foreign * 100)) -le $((cap * 10)) ] && return 0
        QUIET_WAITED=$((QUIET_WAITED + 1))
    done
    return 0
}

client_args() { # side scenario -> CARGS
    local s=$1 sc=$2
    CARGS=(-a "nats://127.0.0.1:${PORT[${s}1]}" -b "nats://127.0.0.1:${PORT[${s}2]}"
        -c "nats://127.0.0.1:${PORT[${s}3]}" -t "$RUN_T")
    [ -n "$SIZE" ] && CARGS+=(-S "$SIZE")
    [ -n "$KOPT" ] && CARGS+=(-k "$KOPT")
    if [ "$sc" = xreqrep ]; then
        [ -n "$NREQ" ] && CARGS+=(-n "$NREQ")
    else
        [ -n "$NMSG" ] && CARGS+=(-n "$NMSG")
    fi
    CARGS+=("$sc")
}

# results.tsv: side round scenario srv_cpu_ticks vmhwm_kB busy_ticks wall_us json
#              node1,node2,node3_cpu_ticks
run_one() {
    local s=$1 sc=$2 r=$3 out="" line rc c0 c1 b0 w0 w1 i dead="" cpu=""
    if ! ensure_cluster "$s"; then
        printf '%s\t%s\t%s\t\t\t\t\t%s\n' "$s" "$r" "$sc" \
            "{\"scenario\":\"$sc\",\"ok\":false,\"err\":\"cluster $s not running\"}" >>"$RES"
        FAILED=1
        echo "  round $r  $sc  $s: FAILED (cluster not running)" >&2
        return
    fi
    wait_quiet
    client_args "$s" "$sc"
    cluster_ticks "$s"; c0=$CT; local n0=("${CTN[@]}")
    busy_ticks; b0=$BUSY
    w0=${EPOCHREALTIME/[.,]/}
    timeout -k 5 $((RUN_T + 30)) "$BIN" "${CARGS[@]}" >"$WORK/last-run.json" \
        2>>"$WORK/client-stderr.log" </dev/null &
    CLIENT_PID=$!
    wait "$CLIENT_PID"
    rc=$?
    CLIENT_PID=""
    w1=${EPOCHREALTIME/[.,]/}
    busy_ticks
    cluster_ticks "$s"; c1=$CT
    while IFS= read -r line; do out=$line; done <"$WORK/last-run.json"
    case $out in
    \{*\}) ;;
    *) out="{\"scenario\":\"$sc\",\"ok\":false,\"err\":\"client exited with status $rc and no result\"}" ;;
    esac
    note_peak "$s"
    for i in 1 2 3; do alive "${PID[$s$i]}" || dead="$dead $s$i"; done
    if [ -n "$dead" ]; then
        out=${out/\"ok\":true/\"ok\":false}
        out="${out%\}},\"server_died\":\"${dead# }\"}"
        case $out in *'"err":'*) ;; *) out="${out%\}},\"err\":\"node(s)${dead} died during the run\"}" ;; esac
        c1=""
    fi
    local dc="" dn=""
    [ -n "$c1" ] && dc=$((c1 - c0)) && dn="$((CTN[1] - n0[1])),$((CTN[2] - n0[2])),$((CTN[3] - n0[3]))"
    mem_kb "${PID[${s}1]}" VmHWM
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$r" "$sc" "$dc" "$KB" \
        "$((BUSY - b0))" "$((w1 - w0))" "$out" "$dn" >>"$RES"
    [ -n "$dc" ] && printf -v cpu '%d.%02d' $((dc / TCK)) $(((dc % TCK) * 100 / TCK))
    case $out in
    *'"ok":true'*)
        [[ $out =~ \"(msgs_per_s|rtt_per_s)\":([0-9.]+) ]] &&
            echo "  round $r  $sc  $s: ${BASH_REMATCH[1]}=${BASH_REMATCH[2]}  server_cpu=${cpu}s" >&2 ;;
    *)
        FAILED=1
        line=failed
        [[ $out =~ \"err\":\"([^\"]*)\" ]] && line=${BASH_REMATCH[1]}
        echo "  round $r  $sc  $s: FAILED: $line" >&2 ;;
    esac
}

{
    echo "cluster_compare.sh  $(date '+%F %T')  nproc=$NPROC  rounds=$ROUNDS  order=$ORDER  quiet-wait=${QUIET_MAX}s"
    echo "  A: ${SBIN[A]}   (3 nodes, routes 2,3 -> 1)"
    echo "  B: ${SBIN[B]}   (3 nodes, routes 2,3 -> 1)"
    echo "  scenarios:$SCENARIOS   -n ${NMSG:-default} -q ${NREQ:-default} -S ${SIZE:-128} -k ${KOPT:-2}"
    echo "  results: $WORK"
} | tee "$WORK/header.txt" >&2

for s in A B; do
    start_cluster "$s" || die "cluster $s did not form (logs in $WORK)"
done
echo "both clusters up: every node has 2 routes" >&2

if [ "$WARMUP" = 1 ]; then
    echo "warm-up (untimed)" >&2
    for s in A B; do
        client_args "$s" xpubsub
        "$BIN" "${CARGS[@]:0:8}" -n 100000 xpubsub >>"$WORK/warmup.log" 2>&1
        "$BIN" "${CARGS[@]:0:8}" -n 500 xreqrep >>"$WORK/warmup.log" 2>&1
    done
fi

for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r/$ROUNDS" >&2
    first=A second=B
    if [ "$ORDER" = abba ] && [ $((r % 2)) = 0 ]; then first=B second=A; fi
    for sc in $SCENARIOS; do
        run_one "$first" "$sc" "$r"
        run_one "$second" "$sc" "$r"
    done
done
cleanup
[ "$QUIET_WAITED" -gt 0 ] && echo "waited $((QUIET_WAITED / 2)) s in all for the machine to calm down before runs" >&2

# --- report (same method as shared/bench/compare.sh) -------------------------
cat >"$WORK/metrics.tsv" <<'EOF'
xpubsub	msgs_per_s	msgs/s	h	1
xfanout	msgs_per_s	dlv msgs/s	h	1
xqueue	msgs_per_s	msgs/s	h	1
xreqrep	rtt_per_s	rtt/s	h	1
xreqrep	p50_us	p50 us	l	0
xreqrep	p90_us	p90 us	l	0
xreqrep	p99_us	p99 us	l	0
EOF
awk -F'\t' -v peakA="${PEAK[A]}" -v peakB="${PEAK[B]}" -v pnA="${PEAKN[A]}" -v pnB="${PEAKN[B]}" -v rsA="${RESTARTS[A]}" -v rsB="${RESTARTS[B]}" \
    -v kA="${KILLED[A]}" -v kB="${KILLED[B]}" -v scen="$SCENARIOS" -v tck="$TCK" -v nproc="$NPROC" '
function jget(s, k,   m) {
    if (match(s, "\"" k "\":-?[0-9.]+([eE][-+]?[0-9]+)?")) {
        m = substr(s, RSTART + length(k) + 3, RLENGTH - length(k) - 3)
        return m + 0
    }
    return ""
}
function median(arr, n,   i, j, t, a) {
    if (n < 1) return ""
    for (i = 1; i <= n; i++) a[i] = arr[i]
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    if (n % 2) return a[(n + 1) / 2]
    return (a[n / 2] + a[n / 2 + 1]) / 2
}
function commas(x,   s, out) {
    s = sprintf("%.0f", x); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    return s out
}
function fmt(x) {
    if (x == "") return "FAIL"
    if (x >= 1000) return commas(x)
    if (x >= 100) return sprintf("%.0f", x)
    if (x >= 10) return sprintf("%.1f", x)
    return sprintf("%.2f", x)
}
FNR == NR { ns++; S_sc[ns] = $1; S_key[ns] = $2; S_lab[ns] = $3; S_dir[ns] = $4; S_pri[ns] = $5; next }
{
    srv = $1; rnd = $2 + 0; sc = $3; js = $8
    if (rnd > R) R = rnd
    if ($6 != "" && $4 != "" && $7 > 0) {
        cl = jget(js, "proc_cpu_s"); if (cl == "") cl = 0
        o = ($6 - $4) / tck - cl; if (o < 0) o = 0
        cap = $7 / 1e6 * nproc
        osum += o; wsum += cap
        if (cap >= 2 && o / cap > olmax) olmax = o / cap
    }
    if (js !~ /"ok":true/) {
        err = js; if (match(js, /"err":"[^"]*"/)) err = substr(js, RSTART + 7, RLENGTH - 8)
        failmsg[++nf] = sprintf("  %s %s round %s: %s", srv, sc, rnd, err)
        next
    }
    for (i = 1; i <= ns; i++) if (S_sc[i] == sc) {
        v = jget(js, S_key[i]); if (v != "") { has[srv, i, rnd] = 1; val[srv, i, rnd] = v }
    }
    if ($4 != "") { chas[srv, sc, rnd] = 1; cval[srv, sc, rnd] = $4 / tck }
    if ($9 != "" && split($9, NT, ",") == 3)
        for (j = 1; j <= 3; j++) { nhas[srv, sc, rnd, j] = 1; nval[srv, sc, rnd, j] = NT[j] / tck }
}
function nodesplit(srv, sc,   j, r, n, v, out, m) {
    out = ""
    for (j = 1; j <= 3; j++) {
        n = 0; split("", v)
        for (r = 1; r <= R; r++) if (nhas[srv, sc, r, j]) v[++n] = nval[srv, sc, r, j]
        m = median(v, n)
        out = out (j > 1 ? "/" : "") (m == "" ? "-" : sprintf("%.2f", m))
    }
    return out
}
function summarize(h, key, higher,   r, na, nb, np, va, vb, vp) {
    na = nb = np = 0
    split("", va); split("", vb); split("", vp)
    for (r = 1; r <= R; r++) {
        if (h["A", key, r]) va[++na] = vA[r]
        if (h["B", key, r]) vb[++nb] = vB[r]
        if (h["A", key, r] && h["B", key, r] && vA[r] > 0 && vB[r] > 0)
            vp[++np] = higher ? vA[r] / vB[r] : vB[r] / vA[r]
    }
    MA = median(va, na); MB = median(vb, nb); MR = median(vp, np)
    RLO = RHI = ""
    for (r = 1; r <= np; r++) {
        if (RLO == "" || vp[r] < RLO) RLO = vp[r]
        if (RHI == "" || vp[r] > RHI) RHI = vp[r]
    }
}
END {
    printf "\n%-10s %-10s %13s %13s %8s  %s\n", "scenario", "figure", "A median", "B median", "ratio", "per-round ratios"
    printf "%-10s %-10s %13s %13s %8s  %s\n", "--------", "------", "--------", "--------", "-----", "----------------"
    np = 0; lsum = 0
    for (i = 1; i <= ns; i++) {
        sc = S_sc[i]
        if (index(" " scen " ", " " sc " ") == 0) continue
        split("", vA); split("", vB)
        for (r = 1; r <= R; r++) { vA[r] = val["A", i, r]; vB[r] = val["B", i, r] }
        summarize(has, i, S_dir[i] == "h")
        ratio = "-"; range = ""
        if (MR != "") {
            ratio = sprintf("%.3f", MR)
            range = (RLO == RHI) ? sprintf("%.3f", RLO) : sprintf("%.3f .. %.3f", RLO, RHI)
            if (S_pri[i] == 1) { np++; lsum += log(MR) }
        } else if (S_pri[i] == 1) missing = missing " " sc
        printf "%-10s %-10s %13s %13s %7s%s  %s\n", sc, S_lab[i], fmt(MA), fmt(MB), ratio, (S_pri[i] == 1) ? "*" : " ", range
    }
    print "(* = rate, in the geomean. ratio = median over the rounds of A/B for rates, B/A for latencies,"
    print " from the A and B runs of the same round: > 1 means A is better)"
    printf "\n%-10s %10s %10s %8s   %-16s %-16s\n", "server CPU", "A s/run", "B s/run", "B/A", "A node 1/2/3", "B node 1/2/3"
    nc = 0; csum = 0
    nl = split(scen, L, " ")
    for (j = 1; j <= nl; j++) {
        sc = L[j]
        split("", vA); split("", vB)
        for (r = 1; r <= R; r++) { vA[r] = cval["A", sc, r]; vB[r] = cval["B", sc, r] }
        summarize(chas, sc, 0)
        ratio = "-"
        if (MR != "") { ratio = sprintf("%.3f", MR); nc++; csum += log(MR) }
        printf "%-10s %10s %10s %8s   %-16s %-16s\n", sc, (MA == "" ? "-" : sprintf("%.2f", MA)), (MB == "" ? "-" : sprintf("%.2f", MB)), ratio, nodesplit("A", sc), nodesplit("B", sc)
    }
    print "(CPU seconds of all 3 server nodes per client run, and each node'"'"'s median; node 1 has the"
    print " publisher / requester, 2 and 3 the subscribers / responder. B/A > 1: A needs less)"
    if (nc > 0) printf "server CPU geomean (B/A): %.3f\n", exp(csum / nc)
    printf "\npeak RSS (VmHWM, largest node): A %.1f MiB (node %s), B %.1f MiB (node %s)\n", peakA / 1024, pnA, peakB / 1024, pnB
    if (wsum > 0)
        printf "CPU used by other processes during the runs: %.1f%% of the machine (worst run: %.1f%%)%s\n", osum / wsum * 100, olmax * 100, (osum / wsum > 0.05 ? "  WARNING: machine not quiet, figures are noisy" : "")
    if (rsA + rsB > 0) printf "cluster restarts after a node died: A %d, B %d\n", rsA, rsB
    if (kA + kB > 0) printf "needed SIGKILL to stop: A %s, B %s\n", (kA ? "yes" : "no"), (kB ? "yes" : "no")
    if (nf > 0) {
        printf "\nFAILED runs (%d):\n", nf
        for (i = 1; i <= nf && i <= 30; i++) print failmsg[i]
    }
    if (missing != "") printf "no ratio (failed runs) for:%s\n", missing
    if (np > 0) printf "ratio geomean: %.3f\n", exp(lsum / np)
    else print "ratio geomean: n/a"
}' "$WORK/metrics.tsv" "$RES" | tee "$WORK/summary.txt"
exit "$FAILED"
