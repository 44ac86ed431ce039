#!/bin/sh
# t_tls_resume: TLS session tickets on the login channel. A second
# connection resumes (and both ends say so), also after a restart (the
# keys are in <data_dir>/ticket.keys, 0600); a previous key still opens
# tickets after a rotation, a key rotated past the previous one, a deleted
# key file (SIGHUP) or a corrupted ticket means a full handshake and a
# working login; a resumed session still shows the pinned server key, and
# another server cannot take over a session; the real client resumes after
# a server restart; tls_tickets = no issues none.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

C=$T/s.conf
KEYS=$T/data/ticket.keys
RESUMED='TLS session resumed'
srv_conf "$C" "log_level = debug"
need server_start srv_start "$C" "$T/s.log" 3>&- 4>&-
SPORT=$PORT
need signup_alice signup a alice
say a '!quit'
FP=$("$IM" server -c "$C" --fingerprint 2>/dev/null)

# conn ID SESSION-OPTIONS...: one imtc connection that logs in as alice
# and quits once the answer is there; output in $T/ID.out.
conn() {
	id=$1
	shift
	printf 'LOGIN alice alice-pw\n' >"$T/$id.in"
	# emptied here, not by the background redirection, which may come
	# after the wait below has read the last run's answer
	: >"$T/$id.out"
	"$IMTC" -w 20 -k -i "$T/$id.in" "$@" 127.0.0.1 "$PORT" >>"$T/$id.out" 2>&1 &
	_cp=$!
	wait_for "$T/$id.out" '^(OK alice|ERR )' 20
	echo '!quit' >>"$T/$id.in"
	wait "$_cp"
}

# full NAME ID: ID made a full handshake and logged in.
full() {
	if ! grep -q '^\*tls TLS-' "$T/$2.out"; then
		fail "$1" "no handshake: $(tr '\n' '|' <"$T/$2.out" | head -c 300)"
	elif grep -q "$RESUMED" "$T/$2.out"; then
		fail "$1" "resumed where a full handshake was due: $(head -n 1 "$T/$2.out")"
	elif ! grep -q '^OK alice$' "$T/$2.out"; then
		fail "$1" "no login after the full handshake: $(tr '\n' '|' <"$T/$2.out" | head -c 300)"
	else
		pass "$1"
	fi
}

# resumed NAME ID: ID resumed (the client says so, and the server logged a
# resumed handshake after the mark), logged in, and saw the pinned key.
resumed() {
	if ! grep -q "^\*tls .*$RESUMED" "$T/$2.out"; then
		fail "$1" "client did not resume: $(tr '\n' '|' <"$T/$2.out" | head -c 300)"
	elif ! wait_new "$T/s.log" "handshake done with .*$RESUMED" 5; then
		fail "$1" "the server logged no resumed handshake: $(new_lines "$T/s.log" | tail -n 3 | tr '\n' '|')"
	elif ! grep -q '^OK alice$' "$T/$2.out"; then
		fail "$1" "no login on the resumed session: $(tr '\n' '|' <"$T/$2.out" | head -c 300)"
	elif ! grep -qx "\*key $FP" "$T/$2.out"; then
		fail "$1" "resumed session shows key $(sed -n 's/^\*key //p' "$T/$2.out"), server's is $FP"
	else
		pass "$1"
	fi
}

# --- the key file ---
if [ "$(stat -c %a "$KEYS" 2>/dev/null)" = 600 ] &&
	grep -Eq '^[0-9a-f]{8} [0-9]+ [0-9a-f]{64}$' "$KEYS"; then
	pass tickets_key_file_0600
else
	fail tickets_key_file_0600 "$(ls -l "$KEYS" 2>&1) $(grep -v '^#' "$KEYS" 2>/dev/null | cut -c1-20)"
fi

# --- a second connection resumes ---
mark "$T/s.log"
conn c1 -S "$T/sess1"
full tickets_first_connection_full c1
if [ "$(stat -c %a "$T/sess1" 2>/dev/null)" = 600 ]; then pass tickets_session_saved; else
	fail tickets_session_saved "$(ls -l "$T/sess1" 2>&1)"; fi
mark "$T/s.log"
conn c2 -R "$T/sess1"
resumed tickets_second_connection_resumes c2

# --- corrupted tickets: key id, issue time, IV, sealed body, tag ---
for off in 0 5 14 40 -1; do
	mark "$T/s.log"
	conn bad -R "$T/sess1" -X "$off"
	full "tickets_corrupt_byte_${off}_full_handshake" bad
	if new_lines "$T/s.log" | grep -q "$RESUMED"; then
		fail "tickets_corrupt_byte_${off}_not_resumed" "the server resumed a corrupted ticket"
	else
		pass "tickets_corrupt_byte_${off}_not_resumed"
	fi
done
if alive "$SRV_PID"; then pass tickets_corrupt_server_alive; else fail tickets_corrupt_server_alive "server died"; fi

# --- a restart: the keys come back from the file ---
cp "$KEYS" "$T/keys.before"
srv_stop tickets_server_stops
need server_restart srv_start "$C" "$T/s.log" -p "$SPORT" 3>&- 4>&-
mark "$T/s.log"
conn c3 -R "$T/sess1"
resumed tickets_resume_after_restart c3
if cmp -s "$KEYS" "$T/keys.before"; then pass tickets_restart_keeps_key; else
	fail tickets_restart_keeps_key "the key file changed at a restart within the key's lifetime"; fi

# --- rotation: the key is older than ticket_key_lifetime (86400 s) ---
now=$(date +%s)
srv_stop tickets_server_stops2
sed -E "s/^([0-9a-f]{8}) [0-9]+ /\1 $((now - 86400 - 100)) /" "$T/keys.before" >"$KEYS"
need server_restart2 srv_start "$C" "$T/s.log" -p "$SPORT" 3>&- 4>&-
if [ "$(grep -Ec '^[0-9a-f]{8} ' "$KEYS")" = 2 ] && grep -q "^$(grep -E '^[0-9a-f]{8} ' "$T/keys.before" | cut -c1-8) " "$KEYS" &&
	! head -n 2 "$KEYS" | grep -q "^$(grep -E '^[0-9a-f]{8} ' "$T/keys.before" | cut -c1-8) "; then
	pass tickets_rotated_keeps_previous
else
	fail tickets_rotated_keeps_previous "$(cut -c1-20 "$KEYS" | tr '\n' '|')"
fi
mark "$T/s.log"
conn c4 -R "$T/sess1"
resumed tickets_previous_key_still_resumes c4
# a fresh ticket, sealed by the new current key
mark "$T/s.log"
conn c5 -S "$T/sess2"
full tickets_new_session_full c5

# --- rotated past the previous key: both keys older than twice the lifetime ---
srv_stop tickets_server_stops3
sed -E "s/^([0-9a-f]{8}) [0-9]+ /\1 $((now - 3 * 86400)) /" "$KEYS" >"$T/keys.old"
cat "$T/keys.old" >"$KEYS"
need server_restart3 srv_start "$C" "$T/s.log" -p "$SPORT" 3>&- 4>&-
mark "$T/s.log"
conn c6 -R "$T/sess2"
full tickets_rotated_past_previous_full c6
mark "$T/s.log"
conn c7 -S "$T/sess3"
full tickets_fresh_session c7
mark "$T/s.log"
conn c8 -R "$T/sess3"
resumed tickets_new_key_resumes c8

# --- the key file deleted, SIGHUP: every ticket is void ---
rm -f "$KEYS"
mark "$T/s.log"
kill -HUP "$SRV_PID"
if wait_new "$T/s.log" 'TLS tickets: new ticket key' 10 && [ "$(stat -c %a "$KEYS" 2>/dev/null)" = 600 ]; then
	pass tickets_sighup_new_key_file
else
	fail tickets_sighup_new_key_file "$(new_lines "$T/s.log" | tail -n 3 | tr '\n' '|') $(ls -l "$KEYS" 2>&1)"
fi
mark "$T/s.log"
conn c9 -R "$T/sess3"
full tickets_deleted_keys_full_handshake c9

# --- a key file others may read is not trusted ---
srv_stop tickets_server_stops4
chmod 644 "$KEYS"
cp "$KEYS" "$T/keys.644"
need server_restart4 srv_start "$C" "$T/s.log" -p "$SPORT" 3>&- 4>&-
if grep -q 'others may read it' "$T/s.log" && [ "$(stat -c %a "$KEYS")" = 600 ] && ! cmp -s "$KEYS" "$T/keys.644"; then
	pass tickets_readable_key_file_replaced
else
	fail tickets_readable_key_file_replaced "$(grep 'TLS tickets' "$T/s.log" | tr '\n' '|') $(ls -l "$KEYS")"
fi

# --- a new server key (same ticket keys): tickets of the old one do not
# open, so clients see the new key at once (and their pin check) ---
mark "$T/s.log"
conn k1 -S "$T/sessk"
full tickets_session_before_key_change k1
srv_stop tickets_server_stops_keychange
mv "$T/data/server.key" "$T/server.key.old"
mv "$T/data/server.crt" "$T/server.crt.old"
need server_restart_newkey srv_start "$C" "$T/s.log" -p "$SPORT" 3>&- 4>&-
NFP=$("$IM" server -c "$C" --fingerprint 2>/dev/null)
mark "$T/s.log"
conn k2 -R "$T/sessk"
full tickets_new_server_key_full_handshake k2
if [ -n "$NFP" ] && [ "$NFP" != "$FP" ] && grep -qx "\*key $NFP" "$T/k2.out"; then pass tickets_new_server_key_shown; else
	fail tickets_new_server_key_shown "old $FP new $NFP, shown $(sed -n 's/^\*key //p' "$T/k2.out")"; fi
# back to the old key, by SIGHUP this time: its tickets open again
cp "$T/server.key.old" "$T/data/server.key"
cp "$T/server.crt.old" "$T/data/server.crt"
mark "$T/s.log"
kill -HUP "$SRV_PID"
need sighup_done wait_new "$T/s.log" 'TLS tickets: .* re-read ' 10
mark "$T/s.log"
conn k3 -R "$T/sessk"
resumed tickets_old_key_back_resumes k3

# --- another server (another key) cannot take over a session ---
mark "$T/s.log"
conn c10 -S "$T/sess4"
full tickets_session_for_other_server c10
srv_conf "$T/o.conf" "data_dir = $T/other" "log_level = debug"
OPORT=$PORT M_PID=$SRV_PID
need other_server srv_start "$T/o.conf" "$T/o.log" 3>&- 4>&-
O_PID=$SRV_PID
printf '!quit\n' >"$T/o1.in"
"$IMTC" -w 20 -k -i "$T/o1.in" -R "$T/sess4" 127.0.0.1 "$PORT" >"$T/o1.out" 2>&1
OFP=$(sed -n 's/^\*key //p' "$T/o1.out")
if grep -q '^\*tls TLS-' "$T/o1.out" && ! grep -q "$RESUMED" "$T/o1.out" && [ -n "$OFP" ] && [ "$OFP" != "$FP" ]; then
	pass tickets_other_server_full_handshake_own_key
else
	fail tickets_other_server_full_handshake_own_key "$(tr '\n' '|' <"$T/o1.out")"
fi
kill -TERM "$O_PID"
wait "$O_PID"
PORT=$OPORT SRV_PID=$M_PID

# --- the real client resumes after a server restart ---
cli_conf alice
cli_start alice 3
tell alice "login alice alice-pw"
need alice_ready got alice '^ready alice$' 20
srv_stop tickets_server_stops5
: >"$T/s2.log"
mark "$T/s2.log" "$T/alice.err"
need server_restart5 srv_start "$C" "$T/s2.log" -p "$SPORT" 3>&- 4>&-
if got_n alice '^ready alice$' 2 30; then pass tickets_client_relogin; else
	fail tickets_client_relogin "$(tail -n 3 "$T/alice.out" | tr '\n' '|')"; fi
if grep -q "handshake done with .*$RESUMED" "$T/s2.log"; then
	pass tickets_client_resumed_after_restart
else
	fail tickets_client_resumed_after_restart "$(grep 'handshake done' "$T/s2.log" | tr '\n' '|')"
fi
if new_lines "$T/alice.err" | grep -q "server 127.0.0.1:$SPORT: .*$RESUMED"; then
	pass tickets_client_says_resumed
else
	fail tickets_client_says_resumed "$(new_lines "$T/alice.err" | tail -n 3 | tr '\n' '|')"
fi

# --- ...and refuses another server (another key) on that port, ticket or not ---
srv_stop tickets_server_stops6
mark "$T/alice.out"
need other_on_port srv_start "$T/o.conf" "$T/o2.log" -p "$SPORT" 3>&- 4>&-
want_new tickets_client_refuses_other_server alice "^error server 127.0.0.1:$SPORT presented key $OFP but $FP is expected" 30
if grep -q "$RESUMED" "$T/o2.log"; then fail tickets_other_server_not_resumed "$(grep "$RESUMED" "$T/o2.log" | head -n 1)"; else
	pass tickets_other_server_not_resumed; fi
tell alice quit
cli_eof alice
cli_wait alice 10 || kill "$CPID_alice" 2>/dev/null
srv_stop tickets_other_server_stops

# --- tls_tickets = no: no key file, no ticket, no resumption ---
srv_conf "$T/n.conf" "data_dir = $T/noticket" "log_level = debug" "tls_tickets = no"
need noticket_server srv_start "$T/n.conf" "$T/n.log" 3>&- 4>&-
for i in 1 2; do
	printf '!quit\n' >"$T/n$i.in"
	"$IMTC" -w 20 -i "$T/n$i.in" ${NS:+-R "$NS"} -S "$T/nsess" 127.0.0.1 "$PORT" >"$T/n$i.out" 2>&1
	NS=$T/nsess
done
if [ ! -e "$T/noticket/ticket.keys" ] && grep -q '^\*tls TLS-' "$T/n2.out" && ! grep -q "$RESUMED" "$T/n2.out"; then
	pass tickets_off_no_resumption
else
	fail tickets_off_no_resumption "$(ls "$T/noticket") $(tr '\n' '|' <"$T/n2.out")"
fi
srv_stop tickets_off_server_stops

no_crash tickets_no_crash "$T"/*.log "$T"/*.err "$T"/*.out
