#!/bin/sh
# t_client_recover: the server is only the map. With it stopped an open
# conversation still delivers; restarted, both clients reconnect with
# backoff and presence comes back; with a new server key they refuse, as
# does a client whose pinned server_key does not match.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf" "keepalive_timeout = 5"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&-; then
	fail recover_server_start "no readiness line"
	exit 1
fi
SPORT=$PORT
cli_conf alice
cli_conf bob
cli_start alice 3
cli_start bob 4
tell alice "signup alice alice-pw" "add bob"
tell bob "signup bob bob-pw" "add alice"
need alice_sees_bob got alice '^online bob '
need bob_sees_alice got bob '^online alice '
tell alice "msg bob before"
want recover_talk_before alice '^sent bob 1$'
if grep -q "^127.0.0.1:$SPORT [0-9a-f]\{64\}\$" "$T/alice/known_servers"; then pass recover_server_key_remembered; else
	fail recover_server_key_remembered "$(cat "$T/alice/known_servers" 2>&1)"; fi

# --- the server dies (a graceful stop announces everyone OFFLINE, which
# rightly ends conversations): the conversation goes on without it ---
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
want recover_lost_reported alice '^error lost the server connection'
tell alice "msg bob while the server is down"
tell bob "msg alice me too"
want recover_talk_without_server alice '^sent bob 2$'
want recover_talk_without_server_back bob '^sent alice 1$'
if grep -qx 'msg alice 2 while the server is down' "$T/bob.out" && grep -qx 'msg bob 1 me too' "$T/alice.out"; then
	pass recover_delivered_without_server
else
	fail recover_delivered_without_server "$(grep '^msg' "$T/bob.out" | tr '\n' '|')"
fi

# --- it comes back: reconnect, session and presence restored ---
setup alice_retries wait_for "$T/alice.err" 'retrying in [0-9]+ ms \(retry 2, delay cap 2000 ms\)' 10
need server_restart srv_start "$T/s.conf" "$T/s2.log" -p "$SPORT" 3>&- 4>&-
if got_n alice '^ready alice$' 2 20 && got_n bob '^ready bob$' 2 20; then
	pass recover_relogin_after_restart
else
	fail recover_relogin_after_restart "$(tail -n 3 "$T/alice.out" | tr '\n' '|')"
fi
if got_n alice '^online bob ' 2 5 && got_n bob '^online alice ' 2 5; then
	pass recover_presence_restored
else
	fail recover_presence_restored "$(grep online "$T/alice.out" "$T/bob.out" | tr '\n' '|')"
fi
# (the delays themselves are jittered: t_client_resume checks their bounds)
if grep -q 'retrying in [0-9]* ms (retry 1, delay cap 1000 ms)' "$T/alice.err" &&
	grep -q 'retrying in [0-9]* ms (retry 2, delay cap 2000 ms)' "$T/alice.err"; then
	pass recover_backoff_doubles
else
	fail recover_backoff_doubles "$(grep retrying "$T/alice.err" | head -n 3 | tr '\n' '|')"
fi
tell alice "msg bob after"
want recover_talk_after alice '^sent bob 3$'
if grep -q '^offline' "$T/alice.out" "$T/bob.out"; then
	fail recover_no_false_offline "$(grep '^offline' "$T/alice.out" "$T/bob.out" | tr '\n' '|')"
else
	pass recover_no_false_offline
fi

# --- a client pinning another server key refuses ---
cli_conf carol "server_key = $KEYA"
cli_start carol 5
tell carol "signup carol carol-pw"
want recover_pinned_key_mismatch_refused carol '^error server 127\.0\.0\.1:[0-9]+ presented key [0-9a-f]{64} but a{64} is expected'
if grep -q '^ready' "$T/carol.out"; then fail recover_pinned_no_login "carol logged in"; else pass recover_pinned_no_login; fi
cli_eof carol
cli_wait carol 5

# --- the server's key changes: remembered key refused ---
# The conversation ends first and the server dies (no OFFLINE from it), so
# only the refusal can tell the clients that presence is no longer known.
mark "$T/bob.err"
tell alice "close bob"
setup bob_sees_bye wait_new "$T/bob.err" 'peer alice .*peer said BYE' 10
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
rm -f "$T/data/server.key" "$T/data/server.crt"
n=$(grep -c '^ready alice$' "$T/alice.out")
need server_restart2 srv_start "$T/s.conf" "$T/s3.log" -p "$SPORT" 3>&- 4>&-
want recover_changed_server_key_refused alice '^error server 127\.0\.0\.1:[0-9]+ presented key .*known_servers' 20
if [ "$(grep -c '^ready alice$' "$T/alice.out")" -eq "$n" ] && ! grep -q 'login alice' "$T/s3.log"; then
	pass recover_changed_server_key_no_login
else
	fail recover_changed_server_key_no_login "alice logged in to the new key"
fi
want recover_refused_contacts_offline alice '^offline bob$' 5
want recover_refused_contacts_offline_back bob '^offline alice$' 5
cli_eof alice
cli_eof bob
cli_wait alice 5 && cli_wait bob 5 && pass recover_clients_exit || fail recover_clients_exit "still running"
srv_stop recover_server_stops
no_crash recover_no_crash "$T/s.log" "$T/s2.log" "$T/s3.log" "$T/alice.err" "$T/bob.err" "$T/carol.err"
