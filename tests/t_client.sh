#!/bin/sh
# t_client: three real clients in batch mode through a real server over
# loopback TLS: alice and bob list each other, carol lists bob only.
# Sign-up, presence, byte-identical delivery both ways, a 1,000-message
# burst, refusals (non-contact, impostor key, wrong listener key), logout
# and a killed client.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
PROBE=$TOP/build/tests/peerprobe

srv_conf "$T/s.conf" "keepalive_timeout = 5"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&-; then
	fail client_server_start "no readiness line"
	exit 1
fi
for id in alice bob carol; do cli_conf $id; done

# --- identity ---
fp=$("$IM" client -c "$T/alice.conf" --fingerprint 2>/dev/null)
if echo "$fp" | grep -Eq '^[0-9a-f]{64}$' && [ "$(stat -c %a "$T/alice")" = 700 ] &&
	[ "$(stat -c %a "$T/alice/id.key")" = 600 ] && [ -s "$T/alice/id.crt" ]; then
	pass client_identity_generated
else
	fail client_identity_generated "fp '$fp', modes $(stat -c '%n %a' "$T/alice" "$T/alice/id.key" 2>&1 | tr '\n' ' ')"
fi
fp2=$("$IM" client -c "$T/alice.conf" --fingerprint 2>/dev/null)
if [ "$fp" = "$fp2" ]; then pass client_identity_stable; else fail client_identity_stable "$fp vs $fp2"; fi
expect_exit client_bad_usage 2 'try' "$IM" client --bogus

cli_start alice 3
cli_start bob 4
cli_start carol 5
tell alice "signup alice alice-pw"
tell bob "signup bob bob-pw"
tell carol "signup carol carol-pw"
want client_ready_alice alice '^ready alice$'
want client_ready_bob bob '^ready bob$'
want client_ready_carol carol '^ready carol$'

tell alice "add bob"
tell bob "add alice"
tell carol "add Bob"
want client_online_alice_sees_bob alice '^online bob 127\.0\.0\.1 [0-9]+$'
want client_online_bob_sees_alice bob '^online alice 127\.0\.0\.1 [0-9]+$'
want client_asked_bob_by_carol bob '^asked carol$'
if grep -qx bob "$T/alice/contacts" && grep -qx bob "$T/carol/contacts"; then
	pass client_contacts_file
else
	fail client_contacts_file "$(cat "$T/alice/contacts" "$T/carol/contacts" | tr '\n' ' ')"
fi
BOBPORT=$(peer_port_of alice bob)

# --- talk, both ways, byte-identical ---
tell alice "msg bob hello bob"
want client_msg_sent alice '^sent bob 1$'
if got bob '^msg alice 1 hello bob$' 5; then pass client_msg_received; else
	fail client_msg_received "$(grep '^msg' "$T/bob.out" | head -n 3 | tr '\n' '|')"; fi
T1='  leading, inner  and trailing spaces  '
T2='Ünïcødé 日本語 ✓ 😀 ok'
T3='a\\b \\\\ two\nnew\n\nlines\\n not-a-newline\\'
AN=1
BN=0
for t in "$T1" "$T2" "$T3"; do
	AN=$((AN + 1))
	BN=$((BN + 1))
	tell alice "msg bob $t"
	tell bob "msg alice $t"
done
got alice "^sent bob $AN\$"
got bob "^sent alice $BN\$"
ok=1
n=1
for t in "$T1" "$T2" "$T3"; do
	n=$((n + 1))
	grep -Fqx "msg alice $n $t" "$T/bob.out" || ok=0
	grep -Fqx "msg bob $((n - 1)) $t" "$T/alice.out" || ok=0
	grep -qx "sent bob $n" "$T/alice.out" || ok=0
	grep -qx "sent alice $((n - 1))" "$T/bob.out" || ok=0
done
if [ $ok = 1 ]; then pass client_bytes_identical_both_ways; else
	fail client_bytes_identical_both_ways "alice: $(grep '^msg' "$T/alice.out" | tr '\n' '|') bob: $(grep '^msg' "$T/bob.out" | tr '\n' '|')"; fi

# --- a burst of 1,000, in order, all acknowledged ---
first=$((AN + 1))
i=1
while [ $i -le 1000 ]; do
	echo "msg bob burst $i of 1000"
	i=$((i + 1))
done >"$T/burst.in"
cat "$T/burst.in" >&3
AN=$((AN + 1000))
if got alice "^sent bob $AN\$" 30 && got bob "^msg alice $AN burst 1000 of 1000\$" 10; then
	sent=$(grep -c '^sent bob' "$T/alice.out")
	grep '^msg alice [0-9]* burst ' "$T/bob.out" | cut -d' ' -f3,5 >"$T/burst.got"
	i=1
	while [ $i -le 1000 ]; do
		echo "$((first + i - 1)) $i"
		i=$((i + 1))
	done >"$T/burst.want"
	if [ "$sent" -eq "$AN" ] && cmp -s "$T/burst.got" "$T/burst.want" &&
		! grep -q '^failed' "$T/alice.out"; then
		pass client_burst_1000_in_order_all_acked
	else
		fail client_burst_1000_in_order_all_acked "sent $sent of $AN; order $(cmp "$T/burst.got" "$T/burst.want" 2>&1)"
	fi
else
	fail client_burst_1000_in_order_all_acked "last: $(tail -n 2 "$T/alice.out" | tr '\n' '|') / $(tail -n 1 "$T/bob.out")"
fi

# --- carol lists bob, bob does not list carol ---
tell carol "msg bob are you there"
want client_one_sided_fails carol '^failed bob 1 offline$'
tell carol who
want client_who_batch carol '^offline bob$'
if grep -q '^online bob' "$T/carol.out"; then fail client_one_sided_no_address "carol learned bob's address"; else
	pass client_one_sided_no_address; fi
"$PROBE" -w 5 dial "$T/carol/id.key" "$T/carol/id.crt" 127.0.0.1 "$BOBPORT" carol "MSG 1 sneaky" >"$T/carol.probe" 2>&1
if grep -q '^\*open' "$T/carol.probe" && ! grep -q '^< ' "$T/carol.probe" && grep -q '^\*closed' "$T/carol.probe" &&
	! grep -q 'sneaky' "$T/bob.out"; then
	pass client_noncontact_direct_dial_refused
else
	fail client_noncontact_direct_dial_refused "$(tr '\n' '|' <"$T/carol.probe")"
fi

# --- an impostor: alice's name, another key ---
"$PROBE" -w 5 dial "$T/imp.key" "$T/imp.crt" 127.0.0.1 "$BOBPORT" alice "MSG 99 from the impostor" >"$T/imp.probe" 2>&1
if grep -q '^\*open' "$T/imp.probe" && ! grep -q '^< ' "$T/imp.probe" && ! grep -q 'impostor' "$T/bob.out" &&
	grep -q 'claiming alice presented key' "$T/bob.err"; then
	pass client_impostor_key_refused
else
	fail client_impostor_key_refused "$(tr '\n' '|' <"$T/imp.probe")"
fi

# --- a listener whose key is not the announced one (dave via imtc) ---
"$PROBE" -w 15 listen "$T/dave.key" "$T/dave.crt" dave >"$T/dave.probe" 2>&1 &
PIDS="$PIDS $!"
setup dave_probe_listens wait_for "$T/dave.probe" '^\*port ' 10
DPORT=$(sed -n 's/^\*port //p' "$T/dave.probe")
cl dave 3>&- 4>&- 5>&-
say dave "SIGNUP dave dave-pw" "PEER $DPORT $KEYD" "CONTACTS alice"
setup dave_signup seen dave '^OK dave$'
tell alice "add dave"
if got alice '^online dave ' 10; then
	AN=$((AN + 1))
	tell alice "msg dave hi"
	want client_listener_key_mismatch_fails alice "^failed dave $AN keymismatch\$"
else
	fail client_listener_key_mismatch_fails "alice never saw dave online: $(tail -n 3 "$T/dave.out" | tr '\n' '|')"
fi

# --- the real alice key is accepted (the probe itself works) ---
"$PROBE" -w 5 dial "$T/alice/id.key" "$T/alice/id.crt" 127.0.0.1 "$BOBPORT" alice "MSG p1 probe says hi" \
	>"$T/real.probe" 2>&1
if grep -q '^< IM 1 bob$' "$T/real.probe" && grep -q '^< ACK p1$' "$T/real.probe" &&
	got bob '^msg alice p1 probe says hi$' 5; then
	pass client_real_key_accepted
else
	fail client_real_key_accepted "$(tr '\n' '|' <"$T/real.probe")"
fi

# --- an independent peer's slips are taken liberally, not fatally ---
"$PROBE" -w 5 dial "$T/alice/id.key" "$T/alice/id.crt" 127.0.0.1 "$BOBPORT" alice 'MSG q1 C:\path\to\' \
	'MSG q2 ' 'MSG q3' 'HELLO there' 'MSG q4 still\n open' BYE >"$T/liberal.probe" 2>&1
ok=1
for id in q1 q2 q3 q4; do grep -qx "< ACK $id" "$T/liberal.probe" || ok=0; done
got bob '^msg alice q4 ' 5 || ok=0
grep -Fqx 'msg alice q1 C:\\path\\to\\' "$T/bob.out" || ok=0
grep -Fqx 'msg alice q2 ' "$T/bob.out" || ok=0
grep -Fqx 'msg alice q3 ' "$T/bob.out" || ok=0
grep -Fqx 'msg alice q4 still\n open' "$T/bob.out" || ok=0
if [ $ok = 1 ]; then pass client_peer_slips_tolerated; else
	fail client_peer_slips_tolerated "$(tr '\n' '|' <"$T/liberal.probe") bob: $(grep 'msg alice q' "$T/bob.out" | tr '\n' '|')"; fi

# --- our open link may be half-open: a fresh dial from the peer replaces it ---
AN=$((AN + 1))
tell alice "msg bob dialing you again"
got alice "^sent bob $AN\$"
ALICEPORT=$(peer_port_of bob alice)
"$PROBE" -w 5 dial "$T/bob/id.key" "$T/bob/id.crt" 127.0.0.1 "$ALICEPORT" bob 'MSG r1 it is me again' BYE \
	>"$T/redial.probe" 2>&1
if grep -qx '< IM 1 alice' "$T/redial.probe" && grep -qx '< ACK r1' "$T/redial.probe" &&
	got alice '^msg bob r1 it is me again$' 5; then
	pass client_fresh_dial_replaces_open_link
else
	fail client_fresh_dial_replaces_open_link "$(tr '\n' '|' <"$T/redial.probe")"
fi

# --- del / add ---
AN=$((AN + 1))
tell alice "del dave" "msg dave still there"
if got alice "^failed dave $AN notcontact\$" 10 && ! grep -qx dave "$T/alice/contacts"; then
	pass client_del_contact
else
	fail client_del_contact "contacts: $(tr '\n' ' ' <"$T/alice/contacts"); last: $(tail -n 2 "$T/alice.out" | tr '\n' '|')"
fi

# --- bob logs out: alice sees it, messages fail with a reason ---
tell bob quit
want client_quit_bye bob '^bye$'
want client_logout_offline alice '^offline bob$'
AN=$((AN + 1))
tell alice "msg bob are you gone"
want client_msg_to_offline_fails alice "^failed bob $AN offline\$"
cli_wait bob 5 && pass client_quit_exits || fail client_quit_exits "bob still running"

# --- bob again, then killed: offline within the keepalive bound ---
mark "$T/alice.out"
cli_start bob 4
tell bob "login bob bob-pw"
want client_relogin bob '^ready bob$'
if got_new alice '^online bob ' 10; then
	AN=$((AN + 1))
	tell alice "msg bob welcome back"
	want client_talk_after_relogin alice "^sent bob $AN\$"
else
	fail client_talk_after_relogin "alice never saw bob online again: $(new_lines "$T/alice.out" | tail -n 3 | tr '\n' '|')"
fi
n0=$(grep -c '^offline bob$' "$T/alice.out")
eval "kill -9 \$CPID_bob"
start=$(date +%s)
i=0
while [ "$(grep -c '^offline bob$' "$T/alice.out")" -le "$n0" ] && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
took=$(($(date +%s) - start))
if [ "$(grep -c '^offline bob$' "$T/alice.out")" -gt "$n0" ] && [ $took -le 7 ]; then
	pass client_killed_peer_offline_in_time
else
	fail client_killed_peer_offline_in_time "after ${took}s: $(tail -n 2 "$T/alice.out" | tr '\n' '|')"
fi

# --- end of input is quit ---
cli_eof alice
cli_eof carol
cli_wait alice 5 && grep -q '^bye$' "$T/alice.out" && pass client_eof_quits || fail client_eof_quits "$(tail -n 2 "$T/alice.out")"
cli_wait carol 5
say dave '!quit'
srv_stop client_server_stops
no_crash client_no_crash "$T/s.log" "$T/alice.err" "$T/bob.err" "$T/carol.err"
