#!/bin/sh
# t_cluster_lastchange: a contact change and the end of the session in one
# event-loop pass (a batch client piping "login" and "add", then EOF) must
# reach the other nodes before the LOGOUT: a contact on another node sees
# `online dave` then `offline dave`, exactly as on one node. The change is
# published only while the record is still the session's own (the kick
# path: t_cluster_presence's second-login checks).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_redis.sh"

if ! have_redis; then
	skip cluster_lastchange "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip cluster_lastchange "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi

node_conf() {
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data%s\n' "$T" "$1"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nkeepalive_timeout = 600\n'
		printf 'key_file = %s/server.key\ncert_file = %s/server.crt\n' "$T" "$T"
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = n%s\nrecord_ttl = 5\n' "$REDIS_PORT" "$1"
	} >"$T/n$1.conf"
}
node_start() {
	srv_start "$T/n$1.conf" "$T/n$1.log" 3>&- 4>&- 5>&- 6>&- || return 1
	eval "P$1=\$PORT NPID$1=\$SRV_PID"
}

IP=127\\.0\\.0\\.1
need redis redis_start
node_conf 1
node_conf 2
for u in alice dave; do
	need "adduser_$u" sh -c "echo '$u-pw' | '$IM' adduser -c '$T/n1.conf' --password-stdin $u >/dev/null 2>&1"
done
mkdir -p "$T/data2" && chmod 700 "$T/data2"
[ ! -f "$T/data1/users" ] || cp "$T/data1/users" "$T/data2/users"
need node1 node_start 1
need node2 node_start 2

# alice (node 2) lists dave; dave has never listed her.
PORT=$P2
cli_conf alice
cli_start alice 3
tell alice "login alice alice-pw" "add dave"
setup alice_ready got alice '^ready alice$' 15
sleep 1
setup alice_record sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT GET im:sess:alice | grep -q ' dave\$'"

# pipe NODE: dave's batch client on NODE logs in, adds alice and ends.
pipe() {
	PORT=$(eval echo "\$P$1")
	cli_conf dave # one state dir: one identity key on both nodes
	printf 'login dave dave-pw\nadd alice\n' |
		"$IM" client -c "$T/dave.conf" --batch >"$T/dave$1.out" 2>"$T/dave$1.err" 3>&- 4>&- 5>&- 6>&-
}

# wants NAME: alice sees online dave, then offline dave (and nothing else
# of dave), after the mark.
wants() {
	if got_new alice '^offline dave$' 15 && sleep 1 &&
		[ "$(new_lines "$T/alice.out" | grep -E '^(online|offline) dave' | cut -d' ' -f1-2 | tr '\n' ' ')" = \
			"online dave offline dave " ]; then
		pass "$1"
	else
		fail "$1" "alice printed: $(new_lines "$T/alice.out" | tr '\n' '|'); dave: $(tr '\n' '|' <"$T/$2.out")"
	fi
}

# --- one node: the reference ---
mark "$T/alice.out"
setup dave_pipe_one_node pipe 2
wants lastchange_one_node dave2

# --- across nodes: the same two lines ---
i=0
while [ $i -lt 100 ] && [ -n "$(rcli GET im:sess:dave)" ]; do
	sleep 0.1
	i=$((i + 1))
done
mark "$T/alice.out"
setup dave_pipe_other_node pipe 1
wants lastchange_across_nodes dave1
sleep 1
if [ -z "$(rcli GET im:sess:dave)" ]; then pass lastchange_record_removed; else
	fail lastchange_record_removed "im:sess:dave = $(rcli GET im:sess:dave)"; fi

# raw NODE: dave logs in on NODE (a test client), sends PEER, then ADD and
# LOGOUT in one write: one read, one pass of the server's loop.
RAW=0
raw() {
	i=0
	while [ $i -lt 100 ] && [ -n "$(rcli GET im:sess:dave)" ]; do
		sleep 0.1
		i=$((i + 1))
	done
	RAW=$((RAW + 1))
	PORT=$(eval echo "\$P$1")
	login "r$RAW" dave 4004 "$KEYD" || return 1
	say "r$RAW" '!raw ADD alice\nLOGOUT\n'
	seen "r$RAW" '^\*closed' 10
}
mark "$T/alice.out"
setup dave_raw_one_node raw 2
wants lastchange_one_pass_one_node "r$RAW"
mark "$T/alice.out"
setup dave_raw_other_node raw 1
wants lastchange_one_pass_across_nodes "r$RAW"
sleep 1
if [ -z "$(rcli GET im:sess:dave)" ]; then pass lastchange_one_pass_record_removed; else
	fail lastchange_one_pass_record_removed "im:sess:dave = $(rcli GET im:sess:dave)"; fi

# --- the record is another node's newer session (as when a login there
# kicks this one): the last change neither overwrites it nor is announced ---
i=0
while [ $i -lt 100 ] && [ -n "$(rcli GET im:sess:dave)" ]; do
	sleep 0.1
	i=$((i + 1))
done
PORT=$P1
need dave_on_node1 login k dave 4004 "$KEYD"
# dave's record with his PEER is out (nothing of his login left to publish)
i=0
while [ $i -lt 100 ] && ! rcli GET im:sess:dave | grep -q "^n1 [0-9]* $IP 4004 "; do
	sleep 0.1
	i=$((i + 1))
done
setup dave_published sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT GET im:sess:dave | grep -q '^n1 [0-9]* $IP 4004 '"
rset() { [ "$(rcli SET "$1" "$2" EX 60)" = OK ]; }
newer="n9 $(($(date +%s) + 100)) 127.0.0.1 4999 $KEYA - 0 unknown alice"
need forged_newer_record rset im:sess:dave "$newer"
mark "$T/alice.out"
say k '!raw ADD alice\nLOGOUT\n'
setup dave_k_closed seen k '^\*closed' 10
sleep 2
if [ "$(rcli GET im:sess:dave)" = "$newer" ]; then pass lastchange_newer_record_kept; else
	fail lastchange_newer_record_kept "im:sess:dave = $(rcli GET im:sess:dave)"; fi
if new_lines "$T/alice.out" | grep -q 'dave'; then
	fail lastchange_newer_record_not_contradicted "alice printed: $(new_lines "$T/alice.out" | tr '\n' '|')"
else
	pass lastchange_newer_record_not_contradicted
fi
rcli DEL im:sess:dave >/dev/null

tell alice "quit"
SRV_PID=$NPID1
srv_stop lastchange_node1_exit_0
SRV_PID=$NPID2
srv_stop lastchange_node2_exit_0
redis_kill TERM
no_crash lastchange_no_crash "$T"/n1.log "$T"/n2.log
