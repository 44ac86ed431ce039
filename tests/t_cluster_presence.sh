#!/bin/sh
# t_cluster_presence: nodes (`im server` with [cluster] redis = one real
# redis-server on loopback, no persistence) share one session map:
# presence between users on different nodes follows the one-node rules
# (withheld until PEER, ONLINE both ways, PEER changes, ASKED once, DEL,
# OFFLINE on LOGOUT; REACH, CALL and PUNCH for 1.1), a node started later
# learns who is online from Redis, users talk directly (batch clients), a
# second login on another node kicks the older session (a third node sees
# the move), Redis restarted under online users drops nobody, a killed
# node's users go OFFLINE within record_ttl, a stopped node's at once, a
# node restarted at once removes its old records; forged or broken channel
# messages are refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_redis.sh"

if ! have_redis; then
	skip cluster_presence "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip cluster_presence "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
TTL=3

# node_conf N [LINE...]: node N's config: its own data dir, the shared key,
# the cluster section.
node_conf() {
	n=$1
	shift
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data%s\n' "$T" "$n"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nkeepalive_timeout = 600\n'
		printf 'key_file = %s/server.key\ncert_file = %s/server.crt\n' "$T" "$T"
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = n%s\nrecord_ttl = %s\n' "$REDIS_PORT" "$n" "$TTL"
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$T/n$n.conf"
}

# node_start N: starts node N; sets P<N> (its port) and NPID<N>.
node_start() {
	srv_start "$T/n$1.conf" "$T/n$1.log" 3>&- 4>&- 5>&- 6>&- || return 1
	eval "P$1=\$PORT NPID$1=\$SRV_PID"
}

# on N: the next cl/cli_conf talks to node N.
on() { eval "PORT=\$P$1"; }

need redis redis_start
IP=127\\.0\\.0\\.1

# The accounts, added through node 1's config: where cluster mode keeps
# them in Redis they are there for both nodes; where a node reads its own
# users file, node 2 gets a copy of node 1's.
node_conf 1
node_conf 2
for u in alice bob carol dave erin frank gina hank; do
	need "adduser_$u" sh -c "echo '$u-pw' | '$IM' adduser -c '$T/n1.conf' --password-stdin $u >/dev/null 2>&1"
done
for n in 2 3; do
	mkdir -p "$T/data$n" && chmod 700 "$T/data$n"
	[ ! -f "$T/data1/users" ] || cp "$T/data1/users" "$T/data$n/users"
done
need node1 node_start 1

# --- node 1 publishes its session ---
on 1
need alice_login login a alice 4001 "$KEYA"
say a "CONTACTS bob"
need alice_contacts sync a
rec=""
i=0
while [ $i -lt 100 ]; do
	rec=$(rcli GET im:sess:alice 2>/dev/null)
	case $rec in *" bob") break ;; esac
	sleep 0.05
	i=$((i + 1))
done
if echo "$rec" | grep -Eq "^n1 [0-9]+ $IP 4001 $KEYA - [01] [a-z]+ bob\$"; then pass cluster_record_published; else
	fail cluster_record_published "im:sess:alice = '$rec'"; fi
ttl=$(rcli TTL im:sess:alice 2>/dev/null)
if [ -n "$ttl" ] && [ "$ttl" -ge 1 ] && [ "$ttl" -le "$TTL" ]; then pass cluster_record_expires; else
	fail cluster_record_expires "TTL im:sess:alice = '$ttl' (record_ttl $TTL)"; fi
sleep "$TTL"
if [ -n "$(rcli GET im:sess:alice 2>/dev/null)" ]; then pass cluster_record_refreshed; else
	fail cluster_record_refreshed "im:sess:alice expired while alice is online"; fi

# --- node 2 starts later: it learns alice from Redis ---
need node2 node_start 2
on 2
need bob_login login b bob
say b "CONTACTS alice"
sync b
sleep 1
lacks cluster_withheld_until_peer_b b '^ONLINE '
lacks cluster_withheld_until_peer_a a '^ONLINE '
say b "PEER 4002 $KEYB 192.168.7.2"
expect cluster_online_from_rebuilt_mirror b "^ONLINE alice $IP 4001 $KEYA\$" 10
expect cluster_online_across_nodes a "^ONLINE bob $IP 4002 $KEYB 192\\.168\\.7\\.2\$" 10
lacks cluster_no_asked_when_mutual a '^ASKED '
if [ -e "$T/data1/run/alice" ] && [ -e "$T/data2/run/bob" ] && [ ! -e "$T/data2/run/alice" ] &&
	[ ! -e "$T/data1/run/bob" ]; then
	pass cluster_session_files_local_only
else
	fail cluster_session_files_local_only "$(ls "$T/data1/run" "$T/data2/run" | tr '\n' ' ')"
fi

# bump PORT: bob's PEER moves to PORT; alice's ONLINE for it is the barrier
# that everything node 2 published before it has reached node 1.
BOBPORT=4002
bump() {
	BOBPORT=$((BOBPORT + 1))
	mark "$T/a.out"
	say b "PEER $BOBPORT $KEYB"
	seen_new a "^ONLINE bob $IP $BOBPORT $KEYB\$" 10
}
need peer_change bump
pass cluster_peer_change_reannounced
say b "PEER $BOBPORT $KEYB"
sync b
setup barrier bump
if [ "$(count a "^ONLINE bob $IP $((BOBPORT - 1)) ")" -eq 1 ]; then pass cluster_same_peer_not_reannounced; else
	fail cluster_same_peer_not_reannounced "$(grep '^ONLINE bob' "$T/a.out" | tr '\n' '|')"; fi

# --- one-sided across nodes: ASKED once, ADD back, DEL ---
on 2
need carol_login login c carol 4003 "$KEYC"
say c "CONTACTS alice"
expect cluster_asked_across_nodes a '^ASKED carol$' 10
say c "DEL alice"
sync c
setup barrier bump
say c "ADD alice"
sync c
setup barrier bump
if [ "$(count a '^ASKED carol$')" -eq 1 ]; then pass cluster_asked_once; else
	fail cluster_asked_once "alice got ASKED carol $(count a '^ASKED carol$') times"; fi
lacks cluster_one_sided_no_online_c c '^ONLINE alice'
say a "ADD carol"
expect cluster_add_back_online_a a "^ONLINE carol $IP 4003 $KEYC\$" 10
expect cluster_add_back_online_c c "^ONLINE alice $IP 4001 $KEYA\$" 10
say a "DEL carol"
expect cluster_del_offline_to_deleter a '^OFFLINE carol$' 10
expect cluster_del_offline_to_other c '^OFFLINE alice$' 10
# ASKED at login while it stands: dave (node 1) lists carol (node 2).
on 1
need dave_login login d dave 4004 "$KEYD"
say d "CONTACTS carol"
expect cluster_asked_to_other_node c '^ASKED dave$' 10
on 2
say c "LOGOUT"
setup carol_logout seen c '^\*closed'
need carol_again login c2 carol
setup barrier bump
lacks cluster_asked_withheld_until_peer c2 '^ASKED'
say c2 "PEER 4003 $KEYC"
expect cluster_asked_again_at_next_login c2 '^ASKED dave$' 10

# --- OFFLINE on LOGOUT across nodes, ONLINE again at the next login ---
mark "$T/a.out"
say b "LOGOUT"
expect_new cluster_offline_on_logout a '^OFFLINE bob$' 10
need bob_again login b2 bob
say b2 "CONTACTS alice" "PEER 4012 $KEYB"
expect_new cluster_online_after_relogin a "^ONLINE bob $IP 4012 $KEYB\$" 10
expect cluster_relogin_sees_contact b2 "^ONLINE alice $IP 4001 $KEYA\$" 10
mark "$T/a.out"
say b2 "PEER 4012 $KEYB fd00::42"
expect_new cluster_lan_ipv6 a "^ONLINE bob $IP 4012 $KEYB fd00::42\$" 10
say b2 "PEER 4012 $KEYB"
expect_new cluster_lan_dropped a "^ONLINE bob $IP 4012 $KEYB\$" 10

# --- OFFLINE across nodes when a client is killed ---
need hank_login login h hank 4008 "$KEYD"
say h "CONTACTS alice"
say a "ADD hank"
setup hank_online seen a "^ONLINE hank $IP 4008 " 10
mark "$T/a.out"
eval "kill -9 \$PID_h"
expect_new cluster_offline_on_killed_client a '^OFFLINE hank$' 10

# --- a conversation between the nodes' users: peer to peer ---
on 1
cli_conf erin
on 2
cli_conf frank
cli_start erin 3
cli_start frank 4
tell erin "login erin erin-pw" "add frank"
tell frank "login frank frank-pw" "add erin"
want cluster_client_online_erin erin '^online frank 127\.0\.0\.1 [0-9]+$' 15
want cluster_client_online_frank frank '^online erin 127\.0\.0\.1 [0-9]+$' 15
tell erin "msg frank hello across the cluster"
want cluster_msg_received frank '^msg erin 1 hello across the cluster$' 10
want cluster_msg_acknowledged erin '^sent frank 1$' 10

# --- a third node watches alice: gina lists her, she lists gina ---
node_conf 3
need node3 node_start 3
on 3
need gina_login login g gina 4007 "$KEYC"
say g "CONTACTS alice"
say a "ADD gina"
expect cluster_third_node_online g "^ONLINE alice $IP 4001 $KEYA\$" 10
expect cluster_third_node_online_back a "^ONLINE gina $IP 4007 $KEYC\$" 10

# --- a second login on the other node kicks the older session ---
mark "$T/g.out"
on 2
mark "$T/b2.out"
cl a2
say a2 "LOGIN alice alice-pw"
expect cluster_second_login_ok a2 '^OK alice$' 10
expect cluster_second_login_kicks_old a '^KICKED ' 10
expect cluster_kicked_old_closed a '^\*closed$' 10
expect_new cluster_kick_offline_to_contact b2 '^OFFLINE alice$' 10
say a2 "PEER 4021 $KEYA" "CONTACTS bob"
expect_new cluster_kick_new_online_to_contact b2 "^ONLINE alice $IP 4021 $KEYA\$" 10
# Node 3 saw alice's session move: OFFLINE (not listed by the new one),
# and the new session is told gina lists her.
expect_new cluster_third_node_sees_move g '^OFFLINE alice$' 10
expect cluster_third_node_asked a2 '^ASKED gina$' 10
if [ ! -e "$T/data1/run/alice" ] && [ -e "$T/data2/run/alice" ]; then pass cluster_kick_moves_session_file; else
	fail cluster_kick_moves_session_file "$(ls "$T/data1/run" "$T/data2/run" | tr '\n' ' ')"; fi
sleep 1
rec=$(rcli GET im:sess:alice 2>/dev/null)
if echo "$rec" | grep -Eq "^n2 [0-9]+ $IP 4021 $KEYA - "; then pass cluster_kick_record_is_new; else
	fail cluster_kick_record_is_new "im:sess:alice = '$rec'"; fi
# And back: a login on node 1 kicks the one on node 2.
on 1
mark "$T/b2.out"
need alice_back login a3 alice 4031 "$KEYA"
expect cluster_second_login_kicks_back a2 '^KICKED ' 10
say a3 "CONTACTS bob"
expect_new cluster_kick_back_online b2 "^ONLINE alice $IP 4031 $KEYA\$" 10
sleep 1
last=$(grep -E '^(ONLINE|OFFLINE) alice' "$T/b2.out" | tail -n 1 | cut -d' ' -f1-4)
if [ "$last" = "ONLINE alice 127.0.0.1 4031" ]; then pass cluster_kick_no_late_offline; else
	fail cluster_kick_no_late_offline "bob's last line about alice: $last"; fi

# --- protocol 1.1 across nodes: REACH, CALL and PUNCH relayed ---
mark "$T/a3.out" "$T/b2.out"
say b2 "VERSION 1.1"
say a3 "VERSION 1.1"
expect_new cluster_reach_across_nodes b2 "^REACH alice (open|closed|unknown) $IP\$" 10
expect_new cluster_reach_across_nodes_back a3 "^REACH bob (open|closed|unknown) $IP\$" 10
say a3 "CALL bob"
expect_new cluster_call_ok a3 '^OK$' 10
expect_new cluster_call_relayed b2 '^CALL alice$' 10
say b2 "PUNCH alice"
expect_new cluster_punch_to_caller b2 "^PUNCH alice $IP 4031\$" 10
expect_new cluster_punch_relayed a3 "^PUNCH bob $IP 4012\$" 10
say c2 "VERSION 1.1" "CALL bob"
expect cluster_call_not_mutual_refused c2 '^ERR 403 bob is not a mutual contact online$' 10

# --- Redis stopped and started again while users are online: nobody
# drops off, a logout made meanwhile reaches the other node after, the
# channel carries changes again ---
say c2 "ADD dave"
setup dave_carol_mutual seen c2 "^ONLINE dave $IP 4004 $KEYD\$" 10
mark "$T/b2.out" "$T/c2.out" "$T/n1.log" "$T/n2.log"
redis_kill KILL
setup redis_lost_n1 wait_new "$T/n1.log" 'lost redis' 10
setup redis_lost_n2 wait_new "$T/n2.log" 'lost redis' 10
say d "LOGOUT"
setup dave_logout seen d '^\*closed'
need redis_again redis_start
# This Redis keeps nothing on disk: accounts kept in it are to add again.
if [ ! -f "$T/data1/users" ]; then
	for u in alice bob carol dave erin frank gina hank; do
		need "adduser_again_$u" sh -c "echo '$u-pw' | '$IM' adduser -c '$T/n1.conf' --password-stdin $u >/dev/null 2>&1"
	done
fi
expect_new cluster_redis_back_logout_delivered c2 '^OFFLINE dave$' 20
setup redis_back_n1 wait_new "$T/n1.log" 'redis .* is back' 40
setup redis_back_n2 wait_new "$T/n2.log" 'redis .* is back' 40
# past the grace after the return (record_ttl) and a node check
sleep $((TTL + 2))
if new_lines "$T/b2.out" | grep -q '^OFFLINE alice$'; then
	fail cluster_redis_restart_no_offline "bob got: $(new_lines "$T/b2.out" | tr '\n' '|')"
else
	pass cluster_redis_restart_no_offline
fi
say a3 "PEER 4032 $KEYA"
expect_new cluster_redis_back_channel_works b2 "^ONLINE alice $IP 4032 $KEYA\$" 10
rec=$(rcli GET im:sess:alice 2>/dev/null)
if echo "$rec" | grep -Eq "^n1 [0-9]+ $IP 4032 $KEYA - "; then pass cluster_redis_back_records_republished; else
	fail cluster_redis_back_records_republished "im:sess:alice = '$rec'"; fi

# --- what comes through Redis is checked like any input ---
mark "$T/n2.log" "$T/c2.out"
rcli PUBLISH im:events "n9 LOGIN eve n9 1 127.0.0.1 99999 $KEYA - 0 unknown alice" >/dev/null
rcli PUBLISH im:events "n9 LOGIN eve n9 1 127.0.0.1 4000 $KEYA - 0 unknown Alice,bob" >/dev/null
rcli PUBLISH im:events "n9 UPDATE eve n9 1 not-an-ip 4000 $KEYA - 0 unknown alice" >/dev/null
rcli PUBLISH im:events "$(head -c 3000 /dev/urandom | od -An -tx1 | tr -d '\n')" >/dev/null
rcli PUBLISH im:events "n9 LOGIN ../x n9 1 127.0.0.1 4000 $KEYA - 0 unknown -" >/dev/null
if wait_new "$T/n2.log" 'ignoring a session record of eve: bad port' 10 &&
	wait_new "$T/n2.log" 'ignoring a session record of eve: bad contacts' 10 &&
	wait_new "$T/n2.log" 'ignoring a session record of eve: bad address' 10; then
	pass cluster_bad_records_refused
else
	fail cluster_bad_records_refused "n2 logged: $(new_lines "$T/n2.log" | tail -n 5 | tr '\n' '|')"
fi
# An older login of bob elsewhere (whose node missed bob's LOGIN, and whose
# record replaced bob's): bob stays, his node says so again.
rcli SET im:sess:bob "n9 1 127.0.0.1 0 - - 0 unknown -" >/dev/null
rcli PUBLISH im:events "n9 LOGIN bob n9 1 127.0.0.1 0 - - 0 unknown -" >/dev/null
i=0
while [ $i -lt 100 ] && ! rcli GET im:sess:bob | grep -q '^n2 '; do
	sleep 0.1
	i=$((i + 1))
done
if rcli GET im:sess:bob | grep -q '^n2 ' && ! grep -q '^KICKED' "$T/b2.out"; then
	pass cluster_older_login_elsewhere_loses
else
	fail cluster_older_login_elsewhere_loses "im:sess:bob = $(rcli GET im:sess:bob); bob: $(tail -n 2 "$T/b2.out" | tr '\n' '|')"
fi
rcli PUBLISH im:events "n9 KICK carol" >/dev/null
expect_new cluster_kick_message c2 '^KICKED account deleted$' 10
expect_new cluster_kick_message_closes c2 '^\*closed$' 10

# --- node 1 killed: its users go OFFLINE within record_ttl; alice,
# back at once on node 2 (as a client failing over does), is seen again
# and stays online when node 1's records expire ---
mark "$T/b2.out" "$T/frank.out"
t0=$(date +%s)
kill -KILL "$NPID1"
wait "$NPID1" 2>/dev/null
on 2
need alice_failover login a6 alice
say a6 "CONTACTS bob" "PEER 4061 $KEYA"
expect_new cluster_failover_offline_first b2 '^OFFLINE alice$' 10
expect_new cluster_failover_online_again b2 "^ONLINE alice $IP 4061 $KEYA\$" 10
expect cluster_failover_sees_contact a6 "^ONLINE bob $IP 4012 $KEYB\$" 10
if got_new frank '^offline erin$' $((TTL + 10)); then
	t1=$(date +%s)
	if [ $((t1 - t0)) -le $((TTL + 3)) ]; then pass cluster_killed_node_offline; else
		fail cluster_killed_node_offline "offline after $((t1 - t0)) s (record_ttl $TTL)"; fi
	echo "# killed node: its user offline after $((t1 - t0)) s (record_ttl $TTL)"
else
	fail cluster_killed_node_offline "no offline erin within $((TTL + 10)) s: $(new_lines "$T/frank.out" | tr '\n' '|')"
fi
sleep 1
if [ "$(new_lines "$T/b2.out" | grep -c '^OFFLINE alice$')" -eq 1 ] && [ -e "$T/data2/run/alice" ] &&
	! grep -q '^\*closed' "$T/a6.out"; then
	pass cluster_failover_survives_old_node_expiry
else
	fail cluster_failover_survives_old_node_expiry "bob: $(new_lines "$T/b2.out" | tr '\n' '|')"
fi
say a6 "LOGOUT"
setup alice_failover_logout seen a6 '^\*closed'

# --- node 1 again, then stopped cleanly: OFFLINE at once ---
node_conf 1 # record_ttl far longer than the wait below
sed -i "s/^record_ttl = .*/record_ttl = 60/" "$T/n1.conf"
need node1_again node_start 1
on 1
mark "$T/b2.out"
need alice_on_new_node1 login a4 alice 4041 "$KEYA"
say a4 "CONTACTS bob"
expect_new cluster_restarted_node_online b2 "^ONLINE alice $IP 4041 $KEYA\$" 10
# Killed and back at once: its node record lives on, its old sessions'
# records too; the new run removes them, and bob hears OFFLINE long before
# they would expire (record_ttl 60).
mark "$T/b2.out"
kill -KILL "$NPID1"
wait "$NPID1" 2>/dev/null
need node1_third node_start 1
expect_new cluster_restart_removes_old_records b2 '^OFFLINE alice$' 10
if [ -z "$(rcli GET im:sess:alice 2>/dev/null)" ]; then pass cluster_restart_old_record_gone; else
	fail cluster_restart_old_record_gone "im:sess:alice = $(rcli GET im:sess:alice)"; fi
on 1
mark "$T/b2.out"
need alice_on_third_node1 login a5 alice 4051 "$KEYA"
say a5 "CONTACTS bob"
expect_new cluster_third_node_online b2 "^ONLINE alice $IP 4051 $KEYA\$" 10
mark "$T/b2.out"
SRV_PID=$NPID1
srv_stop cluster_node_sigterm_exit_0
expect_new cluster_stopped_node_offline_at_once b2 '^OFFLINE alice$' 4
if [ -z "$(rcli GET im:sess:alice 2>/dev/null)" ]; then pass cluster_stopped_node_records_removed; else
	fail cluster_stopped_node_records_removed "im:sess:alice = $(rcli GET im:sess:alice)"; fi

SRV_PID=$NPID2
srv_stop cluster_node2_sigterm_exit_0
SRV_PID=$NPID3
srv_stop cluster_node3_sigterm_exit_0
no_crash cluster_presence_no_crash "$T"/n1.log "$T"/n2.log "$T"/n3.log
