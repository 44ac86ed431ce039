#!/bin/sh
# t_cluster_review: cluster mode as a newcomer runs it. `im who` on a node
# (whose accounts are in Redis: no users file) lists its users; a config
# copied to a second node with its node_id is an error in both logs (the
# two would take each other's users for their own), a node killed and
# started again at once is not; `im server --help` tells of [cluster]; an
# admin mode against a Redis that wants a password names the missing
# redis_password_file; a client that a node without Redis cannot log in
# is told the node's reason, not that the server is full.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_redis.sh"

if "$IM" server --help 2>&1 | grep -q '\[cluster\]'; then pass creview_server_help_tells_cluster; else
	fail creview_server_help_tells_cluster "$("$IM" server --help 2>&1 | head -n 12 | tr '\n' '|')"; fi
if ! have_redis; then
	skip cluster_review "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip cluster_review "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
TTL=3

# node_conf N ID: node N's config (its own data dir), node_id ID.
node_conf() {
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data%s\n' "$T" "$1"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nkeepalive_timeout = 600\n'
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = %s\nrecord_ttl = %s\n' "$REDIS_PORT" "$2" "$TTL"
	} >"$T/n$1.conf"
}

# node_start N [ARGS...]: sets NPID<N> and P<N>.
node_start() {
	n=$1
	shift
	srv_start "$T/n$n.conf" "$T/n$n.log" "$@" || return 1
	eval "NPID$n=\$SRV_PID P$n=\$PORT"
}

need redis redis_start
node_conf 1 n1
node_conf 2 n1 # a copy of node 1's config: the same node_id
need adduser sh -c "echo alice-pw | '$IM' adduser -c '$T/n1.conf' --password-stdin alice >/dev/null 2>&1"
need node1 node_start 1

# --- im who on a node: its users, without a users file ---
PORT=$P1
need alice_login login a alice 4001 "$KEYA"
"$IM" who -c "$T/n1.conf" >"$T/who.out" 2>"$T/who.err"
rc=$?
if [ $rc -eq 0 ] && grep -Eq '^alice +127\.0\.0\.1 +4001 ' "$T/who.out"; then pass creview_who_on_a_node; else
	fail creview_who_on_a_node "exit $rc: $(cat "$T/who.out" "$T/who.err" | tr '\n' '|')"; fi

# --- a second node with node 1's node_id: both logs say so ---
mark "$T/n1.log"
need node2_same_id node_start 2
TWIN="another node runs with node_id n1 \\(it listens on 127\\.0\\.0\\.1:"
if wait_new "$T/n1.log" "error: cluster: ${TWIN}$P2\\)" $((TTL + 10)); then pass creview_twin_node_id_node1; else
	fail creview_twin_node_id_node1 "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"; fi
if wait_for "$T/n2.log" "error: cluster: ${TWIN}$P1\\)" $((TTL + 10)); then pass creview_twin_node_id_node2; else
	fail creview_twin_node_id_node2 "$(tail -n 3 "$T/n2.log" | tr '\n' '|')"; fi
SRV_PID=$NPID2
srv_stop creview_twin_stops

# --- node 1 killed and started again at once: its old record is no twin ---
kill -KILL "$NPID1"
wait "$NPID1" 2>/dev/null
need node1_again node_start 1 -p "$P1"
need node1_again_connected wait_for "$T/n1.log" 'cluster: connected to redis' 10
# three refreshes (every record_ttl/3)
sleep $((TTL + 1))
if grep -q 'another node runs' "$T/n1.log"; then
	fail creview_restart_no_twin "$(grep 'another node' "$T/n1.log")"
elif rcli GET im:node:n1 | grep -q " 127\\.0\\.0\\.1:$P1\$"; then
	pass creview_restart_no_twin
else
	fail creview_restart_no_twin "im:node:n1 = $(rcli GET im:node:n1)"
fi
SRV_PID=$NPID1
srv_stop creview_node1_stops

# --- a Redis that wants a password the config does not give ---
redis_kill KILL
need redis_with_password redis_start --requirepass s3cret-pw
expect_exit creview_admin_names_missing_password 1 'no redis_password_file set.*NOAUTH' \
	sh -c "echo bob-pw | '$IM' adduser -c '$T/n1.conf' --password-stdin bob"

# --- a node that cannot reach Redis: the client shows its reason ---
node_conf 3 n3
sed -i 's/^redis = .*/redis = 127.0.0.1:1/' "$T/n3.conf"
need node3 node_start 3
need node3_no_redis wait_for "$T/n3.log" 'cannot reach redis 127\.0\.0\.1:1' 10
PORT=$P3
cli_conf carol
cli_start carol 3
tell carol "login carol carol-pw"
want creview_client_told_accounts_unavailable carol \
	'^error the server cannot take the login now \(503 cannot log in now: accounts unavailable, try again later\); retrying$' 15
cli_eof carol
cli_wait carol 10 || fail creview_client_quits "still running"
SRV_PID=$NPID3
srv_stop creview_node3_stops
no_crash creview_no_crash "$T"/n1.log "$T"/n2.log "$T"/n3.log "$T"/carol.err
