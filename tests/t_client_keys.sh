#!/bin/sh
# t_client_keys: a contact's key is remembered at first sight; when the
# server announces another one the client says keychange, sends nothing and
# accepts no connection from it until "trust", also when a conversation
# with it is open at the change.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&-; then
	fail keys_server_start "no readiness line"
	exit 1
fi
cli_conf alice
cli_conf bob
cli_start alice 3
cli_start bob 4
tell alice "signup alice alice-pw" "add bob"
tell bob "signup bob bob-pw" "add alice"
need alice_sees_bob got alice '^online bob '
need bob_sees_alice got bob '^online alice '
bobkey=$("$IM" client -c "$T/bob.conf" --fingerprint 2>/dev/null)
if grep -qx "bob $bobkey" "$T/alice/known_keys"; then pass keys_remembered_first_sight; else
	fail keys_remembered_first_sight "$(cat "$T/alice/known_keys" 2>&1)"; fi
tell alice "msg bob hi"
want keys_talk_before alice '^sent bob 1$'

# bob reinstalls: a new identity under the same name
tell bob quit
setup bob_quits cli_wait bob 5
setup alice_sees_bob_offline got alice '^offline bob$'
rm -f "$T/bob/id.key" "$T/bob/id.crt"
cli_start bob 4
tell bob "login bob bob-pw"
need bob_back got bob '^ready bob$'
want keys_keychange_event alice '^keychange bob$'
tell alice "msg bob are you really bob"
want keys_untrusted_not_sent alice '^failed bob 2 untrusted$'
tell bob "msg alice it is me"
want keys_untrusted_incoming_refused bob '^failed alice 1 (refused|timeout)$' 15
if grep -q 'it is me' "$T/alice.out"; then fail keys_untrusted_nothing_received "alice accepted a message"; else
	pass keys_untrusted_nothing_received; fi
grep -q 'NEW KEY for bob' "$T/alice.err" && pass keys_loud_warning || fail keys_loud_warning "no warning logged"
tell alice "trust alice"
want keys_trust_without_change alice '^error no changed key of alice'
tell alice "trust bob" "msg bob now we talk"
want keys_trusted_sends alice '^sent bob 3$'
newkey=$("$IM" client -c "$T/bob.conf" --fingerprint 2>/dev/null)
if grep -qx "bob $newkey" "$T/alice/known_keys"; then pass keys_trust_remembered; else
	fail keys_trust_remembered "$(cat "$T/alice/known_keys")"; fi

# --- a key change while a conversation is open: it ends at once ---
# The server restarts (conversations carry on without it) and bob does not
# come back (frozen, his connection with alice still up); "bob" logs in
# from another box with another key, which alice's client is told.
SPORT=$PORT
eval "kill -STOP \$CPID_bob"
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
setup alice_lost_server got alice '^error lost the server connection'
need server_restart srv_start "$T/s.conf" "$T/s2.log" -p "$SPORT" 3>&- 4>&- 5>&-
mkdir -m 700 "$T/bob2"
echo alice >"$T/bob2/contacts"
cli_conf bob2
cli_start bob2 5
tell bob2 "login bob bob-pw"
setup bob2_ready got bob2 '^ready bob$' 20
if got_n alice '^keychange bob$' 2 20; then pass keys_keychange_open_conversation; else
	fail keys_keychange_open_conversation "$(tail -n 3 "$T/alice.out" | tr '\n' '|')"; fi
tell alice "msg bob not for an unchecked key"
want keys_keychange_open_not_sent alice '^failed bob 4 untrusted$' 5
# bob's quit is read before his overdue reconnect can log in (kicking bob2)
tell bob quit
eval "kill -CONT \$CPID_bob"
cli_wait bob 10
if grep -q 'unchecked' "$T/bob.out" "$T/bob2.out"; then
	fail keys_keychange_open_nothing_arrives "$(grep -h unchecked "$T/bob.out" "$T/bob2.out")"
else
	pass keys_keychange_open_nothing_arrives
fi
tell alice "trust bob" "msg bob hello other box"
want keys_keychange_open_trusted_sends alice '^sent bob 5$'
if grep -qx 'msg alice 5 hello other box' "$T/bob2.out"; then pass keys_keychange_open_trusted_arrives; else
	fail keys_keychange_open_trusted_arrives "$(tail -n 2 "$T/bob2.out" | tr '\n' '|')"; fi

cli_eof alice
cli_eof bob2
cli_wait alice 5
cli_wait bob2 5
srv_stop keys_server_stops
no_crash keys_no_crash "$T/s.log" "$T/s2.log" "$T/alice.err" "$T/bob.err" "$T/bob2.err"
