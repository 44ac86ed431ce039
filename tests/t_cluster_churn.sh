#!/bin/sh
# t_cluster_churn: t_churn's driver (build/tests/churn) against a cluster:
# three nodes sharing one real redis-server (loopback, no persistence),
# every connection to a node picked at random, so logins, logouts, kills,
# hangs, second logins (often on another node: KICKED across nodes), late
# PEERs and ADD/DEL all cross nodes. Then every client's view of who is
# online (address and key) must equal the truth, and the nodes' session
# files together must hold each online user exactly once.
# Knobs: IM_CLUSTER_CHURN_CLIENTS (default 900; 300 under ASan),
# IM_CLUSTER_CHURN_SECS (default 30; 15 under ASan), IM_CHURN_SEED.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_redis.sh"

if ! have_redis; then
	skip cluster_churn "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip cluster_churn "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
CHURN=$TOP/build/tests/churn
LOAD=$TOP/build/tests/load
KA=10
asan=0
case $IM in *asan*) asan=1 ;; esac
if [ $asan = 1 ]; then
	clients=${IM_CLUSTER_CHURN_CLIENTS:-300} secs=${IM_CLUSTER_CHURN_SECS:-15}
else
	clients=${IM_CLUSTER_CHURN_CLIENTS:-900} secs=${IM_CLUSTER_CHURN_SECS:-30}
fi
users=$((clients + clients / 10))
need=$((clients * 2 + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $need ]; then
	ulimit -n $need 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $need ]; then
	clients=$(((nofile - 512) / 2))
	users=$((clients + clients / 10))
fi

need redis redis_start
need users "$LOAD" mkusers "$T/users" 0 "$users" 1000 benchpass1
PORTS="" RUNS="" PIDS_N=""
for n in 1 2 3; do
	mkdir -p "$T/n$n/data" && chmod 700 "$T/n$n/data"
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/n%s/data\n' "$T" "$n"
		printf 'pbkdf2_iterations = 1000\nkeepalive_timeout = %s\n' $KA
		printf 'max_connections = %s\n' $((clients * 2 + 256))
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = n%s\nrecord_ttl = 5\n' "$REDIS_PORT" "$n"
	} >"$T/n$n.conf"
	cp "$T/users" "$T/n$n/data/users"
done
# Where cluster mode keeps the accounts in Redis, they go there.
if "$IM" users --help 2>&1 | grep -q -- '--import'; then
	need users_import sh -c "'$IM' users -c '$T/n1.conf' --import '$T/users' >/dev/null 2>&1"
fi
for n in 1 2 3; do
	need "node$n" srv_start "$T/n$n.conf" "$T/n$n.log"
	need "node${n}_redis" wait_for "$T/n$n.log" 'connected to redis' 20
	PORTS=${PORTS:+$PORTS,}$PORT
	RUNS=${RUNS:+$RUNS,}$T/n$n/data/run
	PIDS_N="$PIDS_N $SRV_PID"
	eval "NPID$n=\$SRV_PID"
done

echo "t_cluster_churn: $clients clients, $users users, ${secs} s churn, nodes on ports $PORTS"
t0=$(date +%s)
# RSS is node 1's (its mirror of the others' sessions included): back near
# its start once all have left, as in t_churn.
set -- -n "$clients" -u "$users" -s "$secs" -k $KA
[ $asan = 1 ] && set -- "$@" -R
[ -n "${IM_CHURN_SEED:-}" ] && set -- "$@" -x "$IM_CHURN_SEED"
"$CHURN" "$@" "$PORTS" "$NPID1" "$RUNS" >"$T/churn.out" 2>&1
rc=$?
sed 's/^\(PASS\|FAIL\|SKIP\) churn_/\1 cluster_churn_/' "$T/churn.out"
echo "t_cluster_churn: driver exited $rc after $(($(date +%s) - t0)) s"
for name in setup views_match session_files_match clients_done all_left; do
	grep -Eq "^(PASS|FAIL) churn_$name\b" "$T/churn.out" ||
		fail "cluster_churn_$name" "the driver did not get that far (exit $rc; see churn: lines above)"
done
rep=$(cat "$T"/n?.log | grep -c 'replaced by a newer login on node')
echo "t_cluster_churn: $rep sessions kicked by a newer login on another node"
if [ "$rep" -gt 0 ]; then pass cluster_churn_kicks_across_nodes; else
	fail cluster_churn_kicks_across_nodes "no second login landed on another node"; fi
ok=1
for n in 1 2 3; do
	eval "p=\$NPID$n"
	alive "$p" || ok=0
done
if [ $ok = 1 ]; then pass cluster_churn_nodes_alive; else fail cluster_churn_nodes_alive "a node died"; fi
for n in 1 2 3; do
	eval "SRV_PID=\$NPID$n"
	srv_stop "cluster_churn_node${n}_exit"
done
no_crash cluster_churn_no_crash "$T"/n1.log "$T"/n2.log "$T"/n3.log
