#!/bin/sh
# t_bench_cluster: the cluster benchmark (tests/bench/run.sh cluster) at a
# tiny scale against the real server and a real redis-server, so it cannot
# rot unseen: one node and three nodes must both be measured (every
# latency and CPU row holds two figures), every session's contacts must
# all have come online and every session be live at the end. No figure is
# judged here, only that each was measured.
. "$(dirname "$0")/lib.sh"

if ! command -v redis-server >/dev/null 2>&1; then
	skip bench_cluster "redis-server is not installed (./build.sh deps installs it)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip bench_cluster "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
N=90

need load_tool [ -x "$TOP/build/tests/load" ]
BENCH_QUICK=0 BENCH_CLUSTER_SESSIONS=$N BENCH_CLUSTER_REPS=6 BENCH_CLUSTER_IDLE=1 \
	sh "$TOP/tests/bench/run.sh" cluster >"$T/cl.out" 2>&1
rc=$?
out() { tr '\n' ' ' <"$T/cl.out" | head -c 800; }
if [ $rc = 0 ]; then pass cluster_bench_runs; else fail cluster_bench_runs "exit $rc: $(out)"; fi
if grep -q '^bench: ' "$T/cl.out"; then fail cluster_bench_no_failure "$(grep '^bench: ' "$T/cl.out" | head -n 2)"; else
	pass cluster_bench_no_failure; fi

# every row of both tables: a figure for one node and one for 3 nodes
ok=1
for label in "logins per second" "PEER change -> ONLINE, p50" "PEER change -> ONLINE, p99" \
	"LOGOUT -> OFFLINE, p50" "LOGOUT -> OFFLINE, p99" "new login (its PEER) -> ONLINE, p50" \
	"new login (its PEER) -> ONLINE, p99" "im CPU ms per login" "redis-server CPU ms per login" \
	"im CPU ms per PEER change" "im CPU ms per LOGOUT + new login" "im CPU ms per second, all $N idle"; do
	line=$(grep -F "  $label" "$T/cl.out" | head -n 1)
	# the last three fields: one node, 3 nodes, the ratio
	figs=$(echo "$line" | awk 'NF >= 3 { print $(NF - 2), $(NF - 1) }')
	if ! echo "$figs" | grep -Eq '^[0-9]+(\.[0-9]+)? [0-9]+(\.[0-9]+)?$'; then
		fail cluster_bench_rows "row '$label': '$line'"
		ok=0
		break
	fi
done
[ $ok = 1 ] && pass cluster_bench_rows
if grep -Eq "^  3 nodes, contacts on the event's own node: PEER p50/p99 [0-9.]+/[0-9.]+ ms" "$T/cl.out"; then
	pass cluster_bench_same_node_row
else
	fail cluster_bench_same_node_row "$(out)"
fi
all=$((N * 20))
if grep -Eq "one node $all of $all, 3 nodes $all of $all; sessions live at the end: $N, $N of $N" "$T/cl.out"; then
	pass cluster_bench_all_online_all_live
else
	fail cluster_bench_all_online_all_live "$(grep 'ONLINEs delivered' "$T/cl.out")"
fi
# the three nodes and redis-server are gone with the benchmark
dir=$(sed -n 's/^raw figures: //p' "$T/cl.out")
left=""
rport=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$dir/redis.log" 2>/dev/null | head -n 1)
if [ -n "$dir" ]; then
	for p in /proc/[0-9]*; do
		[ -r "$p/cmdline" ] || continue
		c=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
		case $c in *"$dir/"* | *"redis-server 127.0.0.1:${rport:-none} "*) left="$left ${p#/proc/}" ;; esac
	done
fi
if [ -n "$dir" ] && [ -n "$rport" ] && [ -z "$left" ]; then pass cluster_bench_stops_all; else
	fail cluster_bench_stops_all "dir '$dir', redis port '$rport', left:$left"; fi
# (a sanitizer report of any of them: lib.sh's log_path, inherited, catches it)
rm -rf "$dir"
