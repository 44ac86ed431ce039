#!/bin/sh
# t_cluster_failover: issue 13 end to end, as a user runs it. One real
# redis-server (loopback, no persistence), two nodes with the same server
# key and the accounts in Redis (added through node 1's config), batch
# clients whose `server` lists both nodes. alice on node 1 and bob on node 2
# see each other and talk; node 1 SIGKILLed: bob hears `offline alice`
# within record_ttl (+ the check period), alice's client moves to node 2 by
# itself, resuming with node 1's token (node 2's log says so), both see each
# other again and talk, and alice stays online there when node 1's records
# expire; carol, whose client knows only node 1, goes offline when her
# record expires, and comes back with node 1. Node 1 back, node 2
# SIGTERMed: carol on node 1 hears both go OFFLINE at once (long before
# node 2's records would expire), and both move to node 1 and see each
# other again. A second client of alice on the
# other node kicks the first, which exits 1 with the kick error. `im send`
# whose first server is down sends through the next.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_redis.sh"

if ! have_redis; then
	skip cluster_failover "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
printf '[cluster]\nredis = 127.0.0.1:1\n' >"$T/probe.conf"
if "$IM" server -n -c "$T/probe.conf" 2>&1 | grep -q 'built without cluster'; then
	skip cluster_failover "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
# Node 1's records expire fast (its death is the first test); node 2's
# slowly, so that its clean stop is seen long before they would expire.
TTL1=3
TTL2=30

# node_conf N TTL: node N's config: its own data dir, the shared key file.
node_conf() {
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data%s\nlog_level = info\n' "$T" "$1"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nkeepalive_timeout = 600\n'
		printf 'key_file = %s/server.key\ncert_file = %s/server.crt\n' "$T" "$T"
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = n%s\nrecord_ttl = %s\n' "$REDIS_PORT" "$1" "$2"
	} >"$T/n$1.conf"
}

# node_start N [ARGS...]: starts node N (the clients' command descriptors
# closed); sets NPID<N> and P<N>.
node_start() {
	n=$1
	shift
	srv_start "$T/n$n.conf" "$T/n$n.log" "$@" 3>&- 4>&- 5>&- 6>&- 7>&- || return 1
	eval "NPID$n=\$SRV_PID P$n=\$PORT"
}

# fconf ID SERVERS: client ID's config with that server list.
fconf() {
	{
		printf '[client]\nserver = %s\nstate_dir = %s/%s\n' "$2" "$T" "$1"
		printf 'peer_listen = 127.0.0.1\nping_interval = 1\nconnect_timeout = 3\nlog_level = info\n'
		printf 'reconnect_base_ms = 300\nreconnect_max_ms = 2000\n'
	} >"$T/$1.conf"
}

# ms_since T0: milliseconds since T0 (date +%s%N).
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

need redis redis_start
node_conf 1 $TTL1
node_conf 2 $TTL2
for u in alice bob carol dave; do
	need "adduser_$u" sh -c "echo '$u-pw' | '$IM' adduser -c '$T/n1.conf' --password-stdin $u >/dev/null 2>&1"
done
# (in Redis: node 2 has no users file of its own)
in_redis() { [ -n "$(rcli GET "im:user:$1")" ]; }
need accounts_in_redis in_redis alice
need node1 node_start 1
need node2 node_start 2
K1=$("$IM" server -c "$T/n1.conf" --fingerprint 2>/dev/null)
K2=$("$IM" server -c "$T/n2.conf" --fingerprint 2>/dev/null)
need same_key test -n "$K1" -a "$K1" = "$K2"
H1=127.0.0.1:$P1 H2=127.0.0.1:$P2

# --- alice on node 1, bob on node 2: they see each other and talk ---
fconf alice "$H1 $H2"
fconf bob "$H2 $H1"
fconf carol "$H1"
cli_start alice 3
cli_start bob 4
cli_start carol 5
tell alice "add bob" "add carol" "login alice alice-pw"
tell bob "add alice" "add carol" "login bob bob-pw"
tell carol "add alice" "add bob" "login carol carol-pw"
need alice_ready got alice '^ready alice$' 15
need bob_ready got bob '^ready bob$' 15
need alice_at_1 grep -q "logged in as alice at server $H1" "$T/alice.err"
need bob_at_2 grep -q "logged in as bob at server $H2" "$T/bob.err"
need carol_ready got carol '^ready carol$' 15
need bob_sees_carol got bob '^online carol ' 15
want cfail_online_alice_sees_bob alice '^online bob 127\.0\.0\.1 [0-9]+$' 15
want cfail_online_bob_sees_alice bob '^online alice 127\.0\.0\.1 [0-9]+$' 15
tell alice "msg bob hello from node one"
want cfail_talk_received bob '^msg alice [0-9]+ hello from node one$' 10
want cfail_talk_acknowledged alice '^sent bob [0-9]+$' 10
mark "$T/alice.out"
tell bob "msg alice hello from node two"
want_new cfail_talk_back alice '^msg bob [0-9]+ hello from node two$' 10
# the token alice will offer node 2: node 1's, kept in Redis
need alice_token_from_1 wait_for "$T/alice/tokens" "^$H1 $K1 alice " 10

# --- node 1 SIGKILLed: bob hears offline alice within record_ttl, alice
# moves to node 2 with node 1's token, they see each other and talk ---
mark "$T/alice.out" "$T/alice.err" "$T/bob.out" "$T/n2.log"
t0=$(date +%s%N)
kill -KILL "$NPID1"
wait "$NPID1" 2>/dev/null
# carol's client knows only node 1: her record just expires
if got_new bob '^offline carol$' $((TTL1 + 10)); then
	ms=$(ms_since "$t0")
	echo "# node 1 killed: bob saw offline carol (no failover) after $ms ms (record_ttl $TTL1 s)"
	if [ "$ms" -le $(((TTL1 + 3) * 1000)) ]; then pass cfail_killed_node_records_expire; else
		fail cfail_killed_node_records_expire "after $ms ms (record_ttl $TTL1 s)"; fi
else
	fail cfail_killed_node_records_expire "bob never saw offline carol: $(new_lines "$T/bob.out" | tr '\n' '|')"
fi
# alice's client fails over at once: her new login on node 2 replaces the
# dead node's record (offline, then online again) before it would expire
if got_new bob '^offline alice$' $((TTL1 + 10)); then
	ms=$(ms_since "$t0")
	# record_ttl, plus the once-a-second check, plus slack for a loaded box
	if [ "$ms" -le $(((TTL1 + 3) * 1000)) ]; then pass cfail_killed_node_offline_in_ttl; else
		fail cfail_killed_node_offline_in_ttl "after $ms ms (record_ttl $TTL1 s)"; fi
else
	fail cfail_killed_node_offline_in_ttl "bob never saw offline alice: $(new_lines "$T/bob.out" | tr '\n' '|')"
fi
want_new cfail_alice_lost_said alice '^error lost the server connection' 10
want_new cfail_alice_ready_again alice '^ready alice$' 20
if new_lines "$T/alice.err" | grep -q "logged in as alice at server $H2"; then pass cfail_alice_moved_to_2; else
	fail cfail_alice_moved_to_2 "$(new_lines "$T/alice.err" | tail -n 4 | tr '\n' '|')"; fi
if new_lines "$T/alice.err" | grep -q "offering the resume token that $H1 issued" &&
	new_lines "$T/alice.err" | grep -q "resumed as alice without the password"; then
	pass cfail_alice_resumed_with_token_of_1
else
	fail cfail_alice_resumed_with_token_of_1 "$(new_lines "$T/alice.err" | grep -i token | tr '\n' '|')"
fi
if new_lines "$T/n2.log" | grep -q "resume alice from 127\.0\.0\.1"; then pass cfail_node2_log_says_resumed; else
	fail cfail_node2_log_says_resumed "$(new_lines "$T/n2.log" | grep alice | tail -n 3 | tr '\n' '|')"; fi
want_new cfail_alice_sees_bob_again alice '^online bob 127\.0\.0\.1 [0-9]+$' 15
want_new cfail_bob_sees_alice_again bob '^online alice 127\.0\.0\.1 [0-9]+$' 15
mark "$T/bob.out"
tell alice "msg bob both on node two"
want_new cfail_talk_after_failover bob '^msg alice [0-9]+ both on node two$' 10
# node 1's records expire: alice's new session on node 2 stays
mark "$T/bob.out"
sleep $((TTL1 + 2))
if new_lines "$T/bob.out" | grep -q '^offline alice$'; then
	fail cfail_survives_old_node_expiry "bob: $(new_lines "$T/bob.out" | tr '\n' '|')"
elif rcli GET im:sess:alice | grep -q '^n2 '; then
	pass cfail_survives_old_node_expiry
else
	fail cfail_survives_old_node_expiry "im:sess:alice = $(rcli GET im:sess:alice)"
fi

# --- node 1 back, node 2 SIGTERMed: OFFLINE at once, both move to node 1 ---
mark "$T/carol.out" "$T/carol.err" "$T/bob.out"
need node1_back node_start 1 -p "$P1"
# carol's client comes back to node 1 by itself, with her token
want_new cfail_carol_back carol '^ready carol$' 20
if new_lines "$T/carol.err" | grep -q "resumed as carol without the password"; then pass cfail_carol_resumed; else
	fail cfail_carol_resumed "$(new_lines "$T/carol.err" | grep -i token | tr '\n' '|')"; fi
want_new cfail_carol_sees_alice carol '^online alice ' 15
want_new cfail_carol_sees_bob carol '^online bob ' 15
want_new cfail_bob_sees_carol_back bob '^online carol ' 15
mark "$T/alice.out" "$T/alice.err" "$T/bob.out" "$T/bob.err" "$T/carol.out"
t0=$(date +%s%N)
SRV_PID=$NPID2
srv_stop cfail_node2_sigterm_exit_0
if got_new carol '^offline alice$' 10 && got_new carol '^offline bob$' 10; then
	ms=$(ms_since "$t0")
	echo "# node 2 stopped: carol saw both offline after $ms ms (record_ttl $TTL2 s)"
	# at once: far sooner than node 2's records would expire
	if [ "$ms" -le 5000 ]; then pass cfail_stopped_node_offline_at_once; else
		fail cfail_stopped_node_offline_at_once "after $ms ms"; fi
else
	fail cfail_stopped_node_offline_at_once "carol: $(new_lines "$T/carol.out" | tr '\n' '|')"
fi
want_new cfail_alice_back_on_1 alice '^ready alice$' 20
want_new cfail_bob_on_1 bob '^ready bob$' 20
if new_lines "$T/alice.err" | grep -q "logged in as alice at server $H1" &&
	new_lines "$T/bob.err" | grep -q "logged in as bob at server $H1"; then
	pass cfail_both_moved_to_1
else
	fail cfail_both_moved_to_1 "$(new_lines "$T/alice.err" "$T/bob.err" | grep 'logged in' | tr '\n' '|')"
fi
if new_lines "$T/alice.err" | grep -q "resumed as alice without the password" &&
	new_lines "$T/bob.err" | grep -q "resumed as bob without the password"; then
	pass cfail_tokens_of_2_work_on_1
else
	fail cfail_tokens_of_2_work_on_1 "$(new_lines "$T/alice.err" "$T/bob.err" | grep -i token | tr '\n' '|')"
fi
want_new cfail_alice_sees_bob_on_1 alice '^online bob 127\.0\.0\.1 [0-9]+$' 15
want_new cfail_bob_sees_alice_on_1 bob '^online alice 127\.0\.0\.1 [0-9]+$' 15
want_new cfail_carol_sees_alice_back carol '^online alice ' 15
mark "$T/alice.out"
tell bob "msg alice both on node one"
want_new cfail_talk_on_1 alice '^msg bob [0-9]+ both on node one$' 10

# --- a second client of alice on the other node kicks the first ---
need node2_back node_start 2 -p "$P2"
fconf alice2 "$H2"
mark "$T/alice.out" "$T/bob.out"
cli_start alice2 6
tell alice2 "add bob" "login alice alice-pw"
want cfail_second_login_ready alice2 '^ready alice$' 15
want_new cfail_first_kicked alice '^error kicked by the server: logged in again from 127\.0\.0\.1' 10
if cli_wait alice 10; then
	wait "$CPID_alice"
	rc=$?
	if [ $rc -eq 1 ]; then pass cfail_kicked_exits_1; else fail cfail_kicked_exits_1 "exit $rc"; fi
else
	fail cfail_kicked_exits_1 "alice's first client still runs after the kick"
fi
want_new cfail_bob_sees_new_alice bob '^online alice 127\.0\.0\.1 [0-9]+$' 15
want cfail_new_alice_sees_bob alice2 '^online bob 127\.0\.0\.1 [0-9]+$' 15
if rcli GET im:sess:alice | grep -q '^n2 '; then pass cfail_kick_record_on_2; else
	fail cfail_kick_record_on_2 "im:sess:alice = $(rcli GET im:sess:alice)"; fi

# --- im send through the list: its first server is down ---
fconf dave "127.0.0.1:1 $H1"
printf 'dave-pw\n' >"$T/dave.pw"
chmod 600 "$T/dave.pw"
printf 'user = dave\npassword_file = %s/dave.pw\n' "$T" >>"$T/dave.conf"
# dave's client pins node 1's key and lists alice; she lists him
mark "$T/alice2.out"
cli_start dave 7
tell dave "login dave dave-pw" "add alice"
tell alice2 "add dave"
need alice2_sees_dave got_new alice2 '^online dave ' 15
cli_eof dave
need dave_quits cli_wait dave 15
need alice2_sees_dave_leave got_new alice2 '^offline dave$' 15
"$IM" send -c "$T/dave.conf" alice hello by im send >"$T/send.out" 2>&1 </dev/null
rc=$?
if [ $rc -eq 0 ]; then pass cfail_send_through_list; else
	fail cfail_send_through_list "exit $rc: $(tr '\n' '|' <"$T/send.out")"; fi
want cfail_send_received alice2 '^msg dave [0-9]+ hello by im send$' 10

for id in alice2 bob carol; do cli_eof "$id"; done
for id in alice2 bob carol; do cli_wait "$id" 10 || fail "cfail_${id}_quits" "still running"; done
SRV_PID=$NPID1
srv_stop cfail_node1_sigterm_exit_0
SRV_PID=$NPID2
srv_stop cfail_node2_again_sigterm_exit_0
no_crash cfail_no_crash "$T"/n1.log "$T"/n2.log "$T"/*.err
