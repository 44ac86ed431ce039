#!/bin/sh
# t_client_failover: a client whose server key lists several servers (issue
# 13 point 4). Two real single-box servers on loopback with the same key,
# users and (copied) tokens stand in for a cluster's nodes: a client whose
# first server is down logs in on the next; when its server dies both
# clients move to the other one, resuming there with the first one's token
# (same key), and see each other again; back again when that one dies (its
# token unknown there: refused, then the password). A server in the list
# with another key than the pinned one is refused with the key-mismatch
# error and skipped (it never sees a password), the next one logs in. Bad
# lists are config errors naming the entry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

# sconf N [LINE...]: server N's config, its own data dir $T/dN.
sconf() {
	n=$1
	shift
	srv_conf "$T/s$n.conf" "data_dir = $T/d$n" "log_level = info" "$@"
}

# start_srv N [ARGS...]: starts server N (closing the clients' command
# descriptors); sets SPID_N and P_N.
start_srv() {
	n=$1
	shift
	srv_start "$T/s$n.conf" "$T/s$n.log" "$@" 3>&- 4>&- 5>&- 6>&- 7>&- || return 1
	eval "SPID_$n=\$SRV_PID P_$n=\$PORT"
}

# stop_srv N: SIGKILL (a box that dies), and wait for it.
stop_srv() {
	eval "p=\$SPID_$1"
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	:
}

# fconf ID SERVERS [LINE...]: client ID's config with that server list.
fconf() {
	id=$1 list=$2
	shift 2
	{
		printf '[client]\nserver = %s\nstate_dir = %s/%s\n' "$list" "$T" "$id"
		printf 'peer_listen = 127.0.0.1\nping_interval = 1\nconnect_timeout = 3\nlog_level = info\n'
		printf 'reconnect_base_ms = 300\nreconnect_max_ms = 2000\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$T/$id.conf"
}

# who_has N NAME: server N's run dir lists NAME online.
who_has() { "$IM" who -c "$T/s$1.conf" 2>/dev/null | grep -Eq "(^| )$2( |\$)"; }

# --- set-up: one users file and one key for servers 1 and 2 ---
sconf 1
sconf 2
sconf 3
mkdir -p "$T/d1" "$T/d2" "$T/d3"
for u in alice bob carol dave eve frank; do
	need "adduser_$u" sh -c "printf '%s\n' '$u-pw' | '$IM' adduser -c '$T/s1.conf' $u >/dev/null 2>&1"
done
need server1_start start_srv 1
cp "$T/d1/users" "$T/d1/server.key" "$T/d1/server.crt" "$T/d2/"
cp "$T/d1/users" "$T/d3/" # server 3: the same accounts, its own key
# Server 2 runs once for its port, then stays down for the first logins.
need server2_first_start start_srv 2
stop_srv 2
need server3_start start_srv 3
K1=$("$IM" server -c "$T/s1.conf" --fingerprint 2>/dev/null)
K2=$("$IM" server -c "$T/s2.conf" --fingerprint 2>/dev/null)
K3=$("$IM" server -c "$T/s3.conf" --fingerprint 2>/dev/null)
need same_key_1_2 test -n "$K1" -a "$K1" = "$K2" -a "$K1" != "$K3"
H1=127.0.0.1:$P_1 H2=127.0.0.1:$P_2 H3=127.0.0.1:$P_3

# --- the first server in the list is down at start: the next one logs in ---
fconf alice "$H1 $H2"
fconf bob "$H2, $H1"
cli_start bob 3
tell bob "add alice" "login bob bob-pw"
want failover_first_down_error bob "^error cannot (reach|connect to) server $H2.*; trying the next server\$" 15
want failover_first_down_logs_in bob '^ready bob$' 15
if grep -q "logged in as bob at server $H1" "$T/bob.err"; then pass failover_logged_which_server; else
	fail failover_logged_which_server "$(grep -i 'server' "$T/bob.err" | tail -n 3 | tr '\n' '|')"; fi
cli_start alice 4
tell alice "add bob" "login alice alice-pw"
need alice_ready got alice '^ready alice$' 15
want failover_both_on_1 alice '^online bob ' 10
need alice_token test -s "$T/alice/tokens"
grep -q "^$H1 $K1 alice " "$T/alice/tokens" && pass failover_token_from_1 ||
	fail failover_token_from_1 "$(cut -d' ' -f1-3 "$T/alice/tokens" | tr '\n' '|')"

# --- server 1 dies: both move to server 2, resuming with server 1's token ---
# Server 2 gets server 1's tokens (a cluster shares them; these two
# single-box servers only through this copy).
# (The server writes its tokens file within a second or so of a change.)
need bob_token got bob '^online alice ' 10
need server1_wrote_tokens wait_for "$T/d1/tokens" '^bob:' 10
need server1_wrote_tokens_alice wait_for "$T/d1/tokens" '^alice:' 10
cp "$T/d1/tokens" "$T/d2/tokens"
need server2_start start_srv 2 -p "$P_2"
mark "$T/alice.out" "$T/bob.out" "$T/alice.err"
t0=$(date +%s%N)
stop_srv 1
want_new failover_lost_said alice '^error lost the server connection' 10
want_new failover_ready_on_2 alice '^ready alice$' 20
echo "t_client_failover: server killed, ready on the next one after $((($(date +%s%N) - t0) / 1000000)) ms (reconnect_base_ms 300)"
want_new failover_bob_ready_on_2 bob '^ready bob$' 20
if new_lines "$T/alice.err" | grep -q "logged in as alice at server $H2"; then pass failover_moved_to_2; else
	fail failover_moved_to_2 "$(new_lines "$T/alice.err" | tail -n 4 | tr '\n' '|')"; fi
if new_lines "$T/alice.err" | grep -q "offering the resume token that $H1 issued" &&
	new_lines "$T/alice.err" | grep -q "resumed as alice without the password"; then
	pass failover_resumed_with_token_of_1
else
	fail failover_resumed_with_token_of_1 "$(new_lines "$T/alice.err" | grep -i token | tr '\n' '|')"
fi
want_new failover_bob_sees_alice_on_2 bob '^online alice ' 15
want_new failover_alice_sees_bob_on_2 alice '^online bob ' 15
check failover_session_on_2 who_has 2 alice
if grep -q "^$H2 $K1 alice " "$T/alice/tokens" && ! grep -q "^$H1 " "$T/alice/tokens"; then
	pass failover_token_replaced
else
	fail failover_token_replaced "$(cut -d' ' -f1-3 "$T/alice/tokens" | tr '\n' '|')"
fi
mark "$T/alice.out"
tell alice "msg bob over node two"
want_new failover_talk_after alice '^sent bob [0-9]+$' 15
want failover_talk_received bob '^msg alice [^ ]+ over node two$' 10

# --- server 1 back, server 2 dies: back to 1; its token is unknown there ---
need server1_restart start_srv 1 -p "$P_1"
mark "$T/alice.out" "$T/bob.out" "$T/alice.err"
stop_srv 2
want_new failover_back_to_1 alice '^ready alice$' 20
want_new failover_bob_back_to_1 bob '^ready bob$' 20
if new_lines "$T/alice.err" | grep -q "logged in as alice at server $H1"; then pass failover_logged_1_again; else
	fail failover_logged_1_again "$(new_lines "$T/alice.err" | tail -n 4 | tr '\n' '|')"; fi
if new_lines "$T/alice.err" | grep -q "resume token of alice was refused"; then pass failover_unknown_token_then_password; else
	fail failover_unknown_token_then_password "$(new_lines "$T/alice.err" | grep -i token | tr '\n' '|')"; fi
want_new failover_bob_sees_alice_on_1 bob '^online alice ' 15
check failover_session_on_1 who_has 1 alice
if grep -q "^$H1 $K1 alice " "$T/alice/tokens" && ! grep -q "^$H2 " "$T/alice/tokens"; then
	pass failover_token_from_1_again
else
	fail failover_token_from_1_again "$(cut -d' ' -f1-3 "$T/alice/tokens" | tr '\n' '|')"
fi

# --- a server with another key than the pinned one: refused, skipped ---
# carol pins server 1's key for every server; server 3 (listed first)
# has the same accounts but another key: it must never see her password.
fconf carol "$H3 $H1" "server_key = $K1"
cli_start carol 5
tell carol "login carol carol-pw"
want failover_mismatch_refused carol "^error server $H3 presented key $K3 but $K1 is expected: refusing to log in.*Skipping this server" 15
want failover_mismatch_next_logs_in carol '^ready carol$' 15
if who_has 3 carol || grep -q "carol" "$T/s3.log"; then
	fail failover_mismatch_no_login "server 3 saw carol: $(grep carol "$T/s3.log" | head -n 2 | tr '\n' '|')"
else pass failover_mismatch_no_login; fi
check failover_mismatch_session_on_1 who_has 1 carol
# Every server refused (only the mismatching one): a security stop, as with one server.
tell carol quit
setup carol_quits cli_wait carol 10
fconf carol "$H3" "server_key = $K1"
cli_start carol 5
tell carol "login carol carol-pw"
want failover_all_refused_stops carol "^error server $H3 presented key" 15
sleep 2
if grep -q "retrying in" "$T/carol.err" || who_has 3 carol; then
	fail failover_all_refused_no_retry "$(grep 'retrying in' "$T/carol.err" | tail -n 1)"
else pass failover_all_refused_no_retry; fi
cli_eof carol
cli_wait carol 10

# --- servers with different keys (trust on first use for each): no token
# crosses from one to the other; the next one takes the password ---
fconf dave "$H1 $H3"
cli_start dave 5
tell dave "login dave dave-pw"
need dave_ready got dave '^ready dave$' 15
need dave_token wait_for "$T/dave/tokens" "^$H1 $K1 dave " 10
mark "$T/dave.out" "$T/dave.err" "$T/s3.log"
stop_srv 1
want_new failover_other_key_logs_in dave '^ready dave$' 20
if new_lines "$T/dave.err" | grep -q "trusting the key of server $H3 on first use: $K3" &&
	new_lines "$T/dave.err" | grep -q "logged in as dave at server $H3"; then
	pass failover_other_key_pinned_on_first_use
else
	fail failover_other_key_pinned_on_first_use "$(new_lines "$T/dave.err" | tail -n 4 | tr '\n' '|')"
fi
# (Server 3 logs "login dave", the password's; a RESUME would be "resume
# dave" or "failed resume for dave".)
if new_lines "$T/dave.err" | grep -Eq "resuming as dave|offering the resume token" ||
	new_lines "$T/s3.log" | grep -Eq "resume (for )?dave" || ! new_lines "$T/s3.log" | grep -q "login dave from"; then
	fail failover_token_not_sent_to_other_key "$({ new_lines "$T/dave.err"; new_lines "$T/s3.log"; } | grep -Ei 'token|dave' | tr '\n' '|')"
else pass failover_token_not_sent_to_other_key; fi
if grep -q "^$H1 $K1 dave " "$T/dave/tokens" && grep -q "^$H3 $K3 dave " "$T/dave/tokens"; then
	pass failover_tokens_per_key
else fail failover_tokens_per_key "$(cut -d' ' -f1-3 "$T/dave/tokens" | tr '\n' '|')"; fi
cli_eof dave
cli_wait dave 10

# --- one host name with two addresses: they count as two servers ---
# The client gets a hosts file of its own (a mount namespace): "twohosts"
# is 127.0.0.1 and 127.0.0.2, each with a server (one key, one users file)
# on the same port. The one in use hangs (SIGSTOP: TCP still connects,
# TLS never answers): the client must go on with the other address, after
# losing it and at a fresh start alike, never stay on the hung one.
printf '127.0.0.1 twohosts\n127.0.0.2 twohosts\n' >"$T/hosts"
NS=""
for f in -m -rm; do
	if unshare $f sh -c 'mount --bind "$0" /etc/hosts && grep -q twohosts /etc/hosts' "$T/hosts" 2>/dev/null; then
		NS=$f
		break
	fi
done
if [ -z "$NS" ]; then
	skip failover_host_addresses "no mount namespace here (unshare -m / -rm) for a hosts file of the client's own"
else
	printf '#!/bin/sh\nexec unshare %s sh -c '"'"'mount --bind "$0" /etc/hosts && exec "$@"'"'"' "%s" "%s" "$@"\n' \
		"$NS" "$T/hosts" "$IM" >"$T/im-hosts"
	chmod +x "$T/im-hosts"
	mkdir -p "$T/d4" "$T/d5"
	cp "$T/d1/users" "$T/d1/server.key" "$T/d1/server.crt" "$T/d4/"
	cp "$T/d1/users" "$T/d1/server.key" "$T/d1/server.crt" "$T/d5/"
	sconf 4 "listen = 127.0.0.1"
	sconf 5 "listen = 127.0.0.2"
	need server4_start start_srv 4
	need server5_start start_srv 5 -p "$P_4"
	# server and server_port as one server was always given
	fconf eve twohosts "server_port = $P_4"
	fconf frank twohosts "server_port = $P_4"
	REAL_IM=$IM
	IM=$T/im-hosts
	cli_start eve 6
	IM=$REAL_IM
	tell eve "login eve eve-pw"
	need eve_ready got eve '^ready eve$' 15
	if who_has 4 eve; then X=4 Y=5; else X=5 Y=4; fi
	need eve_on_one who_has $X eve
	eval "kill -STOP \$SPID_$X"
	mark "$T/eve.out"
	t0=$(date +%s%N)
	want_new failover_address_hung_lost eve '^error lost the server connection' 15
	want_new failover_address_next eve '^ready eve$' 25
	echo "t_client_failover: address hung, ready on the other after $((($(date +%s%N) - t0) / 1000000)) ms (ping_interval 1)"
	check failover_address_next_session who_has $Y eve
	# A fresh start while the first address hangs: its TLS times out,
	# the next address logs in.
	IM=$T/im-hosts
	cli_start frank 7
	IM=$REAL_IM
	tell frank "login frank frank-pw"
	want failover_address_start_past_hung frank '^ready frank$' 25
	check failover_address_start_session who_has $Y frank
	eval "kill -CONT \$SPID_$X"
	cli_eof eve
	cli_eof frank
	cli_wait eve 10
	cli_wait frank 10
	stop_srv 4
	stop_srv 5
fi

# --- bad lists: config errors naming the entry ---
badlist() {
	printf '[client]\nserver = %s\nstate_dir = %s/bad\n' "$2" "$T" >"$T/bad.conf"
	expect_exit "$1" 2 "$T/bad.conf:2: bad value for server in \[client\]: $3" \
		sh -c "echo quit | '$IM' client -c '$T/bad.conf' --batch"
}
badlist failover_nine_servers "a:1 b:2 c:3 d:4 e:5 f:6 g:7 h:8 i:9" "more than 8 servers \(i is one too many\)"
badlist failover_bad_host "a.example:5190 bad_host!:5190" "'bad_host!' is not a host name"
badlist failover_bad_port "a.example:5190 b.example:99999" "'99999' in server b.example is not a port"
badlist failover_bad_v6 "[::1:5190" "'\[::1:5190' is not \[IPv6 address\]"
badlist failover_twice "a.example a.example:5190" "a.example:5190 is listed twice"
# What one server took before still does (bare IPv6 too).
printf '[client]\nserver = ::1\nserver_port = 7\nstate_dir = %s/ok\n' "$T" >"$T/ok.conf"
check failover_one_v6_still_ok sh -c "echo quit | '$IM' client -c '$T/ok.conf' --batch 2>&1 | grep -q '^bye\$'"

tell alice quit
tell bob quit
cli_wait alice 10
cli_wait bob 10
stop_srv 3
no_crash failover_no_crash "$T"/*.log "$T"/*.err
