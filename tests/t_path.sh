#!/bin/sh
# t_path: how a conversation connects (protocol 1.1's path ladder), on
# loopback with real clients in batch mode: the "path NAME HOW" event on
# both sides; a contact not reachable at its announced address reached by
# the reverse path (CALL); both closed: every rung tried, then a clear
# "failed ... unreachable" in bounded time; a version-1 server (the
# baseline binary, $IM_V1) with the new client; and CALL/PUNCH lines from
# a scripted server: only to a contact's announced address, one dial at a
# time. A real simultaneous open (punched) cannot be forced on loopback:
# every client's server connection comes from 127.0.0.1, so no two peers
# ever dial each other's exact address pair; tests/t_nat.sh covers it in
# network namespaces.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
PROBE=$TOP/build/tests/peerprobe
IM_V1=${IM_V1:-/work/base3/im}

srv_conf "$T/s.conf" "keepalive_timeout = 5"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; then
	fail path_server_start "no readiness line"
	exit 1
fi

# pair A B FDA FDB [LINE_A] [LINE_B]: starts clients A and B (extra config
# lines for each), signs both up and makes them mutual contacts; 0 once
# each sees the other online.
pair() {
	cli_conf "$1" ${5:+"$5"}
	cli_conf "$2" ${6:+"$6"}
	cli_start "$1" "$3"
	cli_start "$2" "$4"
	tell "$1" "signup $1 $1-pw" "add $2"
	tell "$2" "signup $2 $2-pw" "add $1"
	got "$1" "^online $2 " 15 && got "$2" "^online $1 " 15
}

# line_of ID PATTERN: the number of the first line of ID's output matching
# PATTERN (0: none).
line_of() { grep -n -E -- "$2" "$T/$1.out" | head -n 1 | cut -d: -f1 | grep . || echo 0; }

# --- a normal conversation: direct, announced on both sides ---
need path_pair_online pair alice bob 3 4
mark "$T/alice.out" "$T/bob.out"
tell alice "msg bob hello bob"
want_new path_direct_dialer alice '^path bob direct$' 15
want_new path_direct_listener bob '^path alice direct$' 15
if got_new alice '^sent bob 1$' 15 && got_new bob '^msg alice 1 hello bob$' 5; then
	pa=$(line_of alice '^path bob direct$') sa=$(line_of alice '^sent bob 1$')
	pb=$(line_of bob '^path alice direct$') mb=$(line_of bob '^msg alice 1 hello bob$')
	if [ "$pa" -gt 0 ] && [ "$pa" -lt "$sa" ] && [ "$pb" -gt 0 ] && [ "$pb" -lt "$mb" ]; then
		pass path_event_before_the_message
	else
		fail path_event_before_the_message "alice: path at $pa, sent at $sa; bob: path at $pb, msg at $mb"
	fi
else
	fail path_event_before_the_message "the message was not delivered: $(tail -n 3 "$T/alice.out" | tr '\n' '|')"
fi
# An open conversation says nothing more, either way.
mark "$T/alice.out" "$T/bob.out"
tell alice "msg bob again"
tell bob "msg alice back"
if got_new alice '^sent bob 2$' 10 && got_new bob '^sent alice 1$' 10 && got_new alice '^msg bob 1 back$' 5; then
	n=$(new_lines "$T/alice.out" | grep -c '^path ')
	m=$(new_lines "$T/bob.out" | grep -c '^path ')
	if [ "$n" = 0 ] && [ "$m" = 0 ]; then pass path_once_per_conversation; else
		fail path_once_per_conversation "new path lines: alice $n, bob $m"; fi
else
	fail path_once_per_conversation "messages on the open conversation not delivered"
fi
if grep -q 'speaks protocol 1.1' "$T/alice.err"; then V11=1; else V11=0; fi

# --- a new connection replaces an open one (as a relayed CALL or PUNCH
# does, or the contact's own new dial): alice's message still on the wire
# is sent again on the new connection, not failed "lost"; a message id
# alice already showed and ACKed is ACKed again but shown once, across
# connections. peerprobe stands in for bob, with bob's own key. ---
AP=$(peer_port_of bob alice)
BK=$T/bob/id.key BC=$T/bob/id.crt
: >"$T/r1.probe"
"$PROBE" -w 30 dial "$BK" "$BC" 127.0.0.1 "$AP" bob 'MSG d1 once only' >"$T/r1.probe" 2>&1 \
	3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
PIDS="$PIDS $!"
setup path_replace_first_acked wait_for "$T/r1.probe" '^< ACK d1$' 10
mark "$T/alice.out" "$T/alice.err"
tell alice "msg bob in flight"
setup path_replace_in_flight wait_for "$T/r1.probe" '^< MSG 3 in flight$' 10
: >"$T/r2.probe"
"$PROBE" -w 30 dial "$BK" "$BC" 127.0.0.1 "$AP" bob 'MSG d1 once only' 'MSG d1 once only' 'ACK 3' \
	>"$T/r2.probe" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
PIDS="$PIDS $!"
if wait_for "$T/r2.probe" '^< MSG 3 in flight$' 10 && got_new alice '^sent bob 3$' 10 &&
	! new_lines "$T/alice.out" | grep -q '^failed bob 3'; then
	pass path_replaced_link_resends_unacked
else
	fail path_replaced_link_resends_unacked "alice: $(new_lines "$T/alice.out" | tr '\n' '|') probe: $(tr '\n' '|' <"$T/r2.probe")"
fi
n=$(grep -c '^< ACK d1$' "$T/r2.probe")
m=$(grep -c '^msg bob d1 ' "$T/alice.out")
if [ "$n" = 2 ] && [ "$m" = 1 ]; then
	pass path_seen_id_acked_not_shown_twice
else
	fail path_seen_id_acked_not_shown_twice "ACK d1 on the new connection: $n (want 2); shown: $m (want 1)"
fi

# --- reverse: carol listens on 127.0.0.2 only, so her announced address
# (127.0.0.1, where the server sees her, and her port) refuses; dave's
# (127.0.0.1) answers. dave -> carol: the server's probe says carol is
# closed and dave open, so dave asks the server to have carol dial him. ---
if [ $V11 = 1 ]; then
	need path_pair2_online pair dave carol 5 6 "" "peer_listen = 127.0.0.2"
	# both probes done (REACH about themselves)
	wait_for "$T/carol.err" 'our peer port is not reachable' 10
	wait_for "$T/dave.err" 'our peer port is reachable' 10
	mark "$T/dave.out" "$T/carol.out"
	tell dave "msg carol call me back"
	want_new path_reverse_asker dave '^path carol reverse$' 15
	want_new path_reverse_callee carol '^path dave reverse$' 15
	want_new path_reverse_delivered carol '^msg dave 1 call me back$' 10
	if got_new dave '^sent carol 1$' 10 && ! new_lines "$T/dave.out" | grep -q '^failed'; then
		pass path_reverse_acked
	else
		fail path_reverse_acked "$(new_lines "$T/dave.out" | tr '\n' '|')"
	fi
	# carol -> dave needs no help: dave is reachable (direct), once the
	# reverse conversation is gone.
	tell carol "close dave"
	sleep 0.5
	mark "$T/dave.out" "$T/carol.out"
	tell carol "msg dave direct to you"
	want_new path_open_contact_direct carol '^path dave direct$' 15
else
	skip path_reverse "the server speaks protocol 1 (no reachability probe, no CALL)"
fi

# --- both closed: direct is skipped (the probe said closed), reverse
# needs us open, so the punch is tried (both sides get PUNCH and dial),
# and on loopback it cannot meet: "unreachable" within the ladder's
# bound (about 4 x connect_timeout, 3 s here), never a hang. ---
if [ $V11 = 1 ]; then
	need path_pair3_online pair erin frank 7 8 "peer_listen = 127.0.0.3" "peer_listen = 127.0.0.4"
	wait_for "$T/erin.err" 'our peer port is not reachable' 10
	wait_for "$T/frank.err" 'our peer port is not reachable' 10
	mark "$T/erin.out" "$T/erin.err" "$T/frank.err"
	t0=$(date +%s)
	tell erin "msg frank anyone there"
	if got_new erin '^failed frank 1 unreachable$' 20; then
		dt=$(($(date +%s) - t0))
		if [ $dt -le 14 ]; then pass path_all_rungs_then_unreachable; else
			fail path_all_rungs_then_unreachable "took ${dt}s"; fi
	else
		fail path_all_rungs_then_unreachable "$(new_lines "$T/erin.out" | tr '\n' '|')"
	fi
	if wait_new "$T/erin.err" 'punching to 127\.0\.0\.1 port' 2 && wait_new "$T/frank.err" 'punching to 127\.0\.0\.1 port' 2; then
		pass path_punch_tried_by_both
	else
		fail path_punch_tried_by_both "erin: $(new_lines "$T/erin.err" | grep -c punch), frank: $(new_lines "$T/frank.err" | grep -c punch) punch lines"
	fi
	if ! new_lines "$T/erin.out" | grep -q '^path '; then pass path_none_when_unreachable; else
		fail path_none_when_unreachable "$(new_lines "$T/erin.out" | grep '^path ')"; fi
else
	skip path_unreachable_after_every_rung "the server speaks protocol 1"
fi

# --- a version-1 server (the baseline binary) and this client: login,
# messages and the path event, no VERSION-related error; a contact closed
# at its address fails "unreachable" at once, as before. ---
if [ -x "$IM_V1" ]; then
	SAVED_IM=$IM SAVED_PORT=$PORT SAVED_PID=$SRV_PID
	IM=$IM_V1
	srv_conf "$T/v1.conf" "keepalive_timeout = 5" "data_dir = $T/v1data"
	srv_start "$T/v1.conf" "$T/v1.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
	rc=$?
	IM=$SAVED_IM
	if [ $rc = 0 ] && pair gina hal 9 3 "" "peer_listen = 127.0.0.5"; then
		pass path_v1_login
	else
		fail path_v1_login "$(tail -n 3 "$T/gina.out" "$T/hal.out" 2>&1 | tr '\n' '|')"
	fi
	mark "$T/gina.out" "$T/hal.out"
	tell hal "msg gina over protocol 1"
	want_new path_v1_direct_dialer hal '^path gina direct$' 15
	want_new path_v1_direct_listener gina '^path hal direct$' 15
	want_new path_v1_delivered gina '^msg hal 1 over protocol 1$' 10
	want_new path_v1_acked hal '^sent gina 1$' 10
	if ! grep -qi 'version' "$T/gina.out" "$T/hal.out" && grep -q 'speaks protocol 1 only' "$T/gina.err"; then
		pass path_v1_no_version_error
	else
		fail path_v1_no_version_error "$(grep -i version "$T/gina.out" "$T/hal.out" "$T/gina.err" | head -n 3 | tr '\n' '|')"
	fi
	tell gina "close hal"
	sleep 0.5
	mark "$T/gina.out"
	tell gina "msg hal you listen elsewhere"
	if got_new gina '^failed hal [0-9]+ unreachable$' 10 && ! grep -q 'asking the server' "$T/gina.err"; then
		pass path_v1_closed_contact_unreachable_at_once
	else
		fail path_v1_closed_contact_unreachable_at_once "$(new_lines "$T/gina.out" | tr '\n' '|')"
	fi
	kill "$SRV_PID" 2>/dev/null
	PORT=$SAVED_PORT SRV_PID=$SAVED_PID
else
	skip path_v1_server "no version-1 server binary at $IM_V1 (set IM_V1)"
fi

# --- CALL and PUNCH from a scripted 1.1 server (peerprobe -s): only for
# a listed contact, only to its announced address, one dial at a time. ---
SAVEPORT=$PORT
# fake FID LINE...: a scripted login server for client FID (listing
# mallory); with FAKE_U set, it answers a PUNCH with OK and that line.
FAKE_U=""
fake() {
	fid=$1
	shift
	: >"$T/$fid.fake"
	"$PROBE" -w 30 -s ${FAKE_U:+-u "$FAKE_U"} listen "$T/fake.key" "$T/fake.crt" fake "$@" >"$T/$fid.fake" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	wait_for "$T/$fid.fake" '^\*port ' 10 || return 1
	PORT=$(sed -n 's/^\*port //p' "$T/$fid.fake")
	cli_conf "$fid"
	PORT=$SAVEPORT
	mkdir -p "$T/$fid"
	chmod 700 "$T/$fid"
	printf 'mallory\n' >"$T/$fid/contacts"
}
# listener FID: a peer-channel listener standing in for mallory; LPORT.
listener() {
	: >"$T/$1.lis"
	"$PROBE" -w 20 listen "$T/mal.key" "$T/mal.crt" mallory >"$T/$1.lis" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	wait_for "$T/$1.lis" '^\*port ' 10 || return 1
	LPORT=$(sed -n 's/^\*port //p' "$T/$1.lis")
}
if listener l1 && P1=$LPORT && listener l2 && P2=$LPORT; then
	need path_fake_punch fake ivy 'IM 1 fake' 'OK 1.1' 'OK ivy' \
		"ONLINE mallory 127.0.0.1 $P1 $KEYA" 'REACH mallory closed 127.0.0.1' \
		"PUNCH mallory 127.0.0.1 $P2" "PUNCH stranger 127.0.0.1 $P2" "PUNCH mallory 127.0.0.1 $P1"
	cli_start ivy 4
	tell ivy "login ivy ivy-pw"
	if wait_for "$T/l1.lis" '^\*open ' 10; then pass path_punch_dials_announced_address; else
		fail path_punch_dials_announced_address "$(tr '\n' '|' <"$T/l1.lis") log: $(grep -i punch "$T/ivy.err" | tr '\n' '|')"; fi
	if grep -q "ignoring a punch request to 127.0.0.1 port $P2: it is announced at 127.0.0.1 port $P1" "$T/ivy.err" &&
		! grep -q '^\*open' "$T/l2.lis"; then
		pass path_punch_other_address_ignored
	else
		fail path_punch_other_address_ignored "$(tr '\n' '|' <"$T/l2.lis") log: $(grep -i punch "$T/ivy.err" | tr '\n' '|')"
	fi
	cli_eof ivy
	cli_wait ivy 10
fi
if listener l3 && P3=$LPORT; then
	need path_fake_call fake jay 'IM 1 fake' 'OK 1.1' 'OK jay' \
		"ONLINE mallory 127.0.0.1 $P3 $KEYA" 'REACH mallory open 127.0.0.1' 'CALL stranger' \
		'CALL mallory' 'CALL mallory' 'CALL mallory' 'CALL mallory' 'CALL mallory' 'CALL mallory' \
		'CALL mallory' 'CALL mallory' 'CALL mallory' 'CALL mallory'
	cli_start jay 5
	tell jay "login jay jay-pw"
	if wait_for "$T/l3.lis" '^\*open ' 10; then pass path_call_dials_announced_address; else
		fail path_call_dials_announced_address "$(tr '\n' '|' <"$T/l3.lis")"; fi
	wait_for "$T/jay.out" '^ready jay$' 10
	n=$(grep -c 'it asked us to dial it' "$T/jay.err")
	if [ "$n" = 1 ]; then pass path_call_flood_one_dial; else
		fail path_call_flood_one_dial "$n dials for 10 CALLs arriving at once"; fi
	if ! grep -q 'stranger: it asked' "$T/jay.err"; then pass path_call_stranger_ignored; else
		fail path_call_stranger_ignored "dialed for a CALL from a non-contact"; fi
	cli_eof jay
	cli_wait jay 10
fi

# --- the contact's punch SYN reaches our listener (our own punch socket
# was refused a moment before): that connection is the punch, matched by
# the PUNCH's address and port. zed is the larger name, so its side of
# the punch is the TLS server, and a wrong key there fails the waiting
# message "keymismatch" as a dialer's does (not "refused"). ---
PP=$(sed -n 's/^\*port //p' "$T/l3.lis")
PP=$((PP + 1))
if [ -n "$P3" ]; then
	need path_fake_punch_in fake zed 'IM 1 fake' 'OK 1.1' 'OK zed' \
		"ONLINE mallory 127.0.0.1 $PP $KEYA" 'REACH mallory closed 127.0.0.1' "PUNCH mallory 127.0.0.1 $PP"
	sed -i 's/^connect_timeout = .*/connect_timeout = 8/' "$T/zed.conf"
	cli_start zed 5
	tell zed "login zed zed-pw"
	setup path_zed_punching wait_for "$T/zed.err" 'punching to 127\.0\.0\.1 port' 10
	ZP=$(sed -n 's/.*, peer port \([0-9][0-9]*\)$/\1/p' "$T/zed.err" | head -n 1)
	mark "$T/zed.out"
	tell zed "msg mallory through the punch"
	setup path_zed_asks wait_for "$T/zed.err" 'asking the server for a punched connection' 10
	: >"$T/pin.probe"
	"$PROBE" -w 10 -p "$PP" dial "$T/mal.key" "$T/mal.crt" 127.0.0.1 "$ZP" mallory >"$T/pin.probe" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	if got_new zed '^failed mallory 1 ' 12 && new_lines "$T/zed.out" | grep -q '^failed mallory 1 keymismatch$'; then
		pass path_punch_on_listener_keymismatch
	else
		fail path_punch_on_listener_keymismatch "zed: $(new_lines "$T/zed.out" | tr '\n' '|') probe: $(tr '\n' '|' <"$T/pin.probe") log: $(grep -i 'punch\|mallory' "$T/zed.err" | tail -n 4 | tr '\n' '|')"
	fi
	cli_eof zed
	cli_wait zed 10
fi

# --- a CALL that brought nobody: once that ladder has ended, a later
# connection from the contact is "direct", not "reverse". mallory's real
# key (mal.key, as zed logged it) is announced this time. ---
MK=$(sed -n 's/.*claiming mallory presented key \([0-9a-f]*\),.*/\1/p' "$T/zed.err" | head -n 1)
if [ -n "$MK" ]; then
	need path_fake_called fake una 'IM 1 fake' 'OK 1.1' 'OK una' \
		"ONLINE mallory 127.0.0.1 $PP $MK" 'REACH mallory closed 127.0.0.1' 'REACH una open 127.0.0.1'
	cli_start una 5
	tell una "login una una-pw"
	setup path_una_open wait_for "$T/una.err" 'our peer port is reachable' 10
	UP=$(sed -n 's/.*, peer port \([0-9][0-9]*\)$/\1/p' "$T/una.err" | head -n 1)
	mark "$T/una.out"
	tell una "msg mallory nobody calls back"
	setup path_una_unreachable got_new una '^failed mallory 1 unreachable$' 20
	setup path_una_called grep -q 'asking the server for a reverse connection' "$T/una.err"
	mark "$T/una.out"
	: >"$T/unadial.probe"
	"$PROBE" -w 10 dial "$T/mal.key" "$T/mal.crt" 127.0.0.1 "$UP" mallory 'MSG m1 on my own' >"$T/unadial.probe" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	if got_new una '^path mallory ' 10 && new_lines "$T/una.out" | grep -q '^path mallory direct$'; then
		pass path_reverse_only_while_its_ladder_runs
	else
		fail path_reverse_only_while_its_ladder_runs "una: $(new_lines "$T/una.out" | tr '\n' '|') probe: $(tr '\n' '|' <"$T/unadial.probe")"
	fi
	cli_eof una
	cli_wait una 10
else
	fail path_reverse_only_while_its_ladder_runs "mallory's key not found in zed's log"
fi

# --- the PUNCH our own punched rung asked for starts the punch even while
# a dial for the contact's CALL is under way (that dial gives way). The
# CALL's dial goes to a listener that never answers past TCP (hl: its one
# accept taken by tcphold, so later connections wait in its backlog). ---
HOLD=$TOP/build/tests/tcphold
if [ -n "$MK" ] && listener hl && HP=$LPORT; then
	"$HOLD" -w 30 127.0.0.1 "$HP" 1 >"$T/hl.hold" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	setup path_hold_taken wait_for "$T/hl.hold" '^\*connected 1' 10
	FAKE_U="PUNCH mallory 127.0.0.1 $HP"
	need path_fake_punch_asked fake vic 'IM 1 fake' 'OK 1.1' 'OK vic' \
		"ONLINE mallory 127.0.0.1 $HP $MK" 'REACH mallory closed 127.0.0.1' 'CALL mallory'
	FAKE_U=""
	sed -i 's/^connect_timeout = .*/connect_timeout = 6/' "$T/vic.conf"
	cli_start vic 5
	tell vic "login vic vic-pw"
	setup path_vic_calls_back wait_for "$T/vic.err" 'it asked us to dial it; dialing 127\.0\.0\.1' 10
	mark "$T/vic.out" "$T/vic.err"
	tell vic "msg mallory punch please"
	if wait_new "$T/vic.err" "punching to 127\.0\.0\.1 port $HP" 10; then
		pass path_asked_punch_starts_beside_a_call
	else
		fail path_asked_punch_starts_beside_a_call "$(new_lines "$T/vic.err" | tail -n 4 | tr '\n' '|') $(new_lines "$T/vic.out" | tr '\n' '|')"
	fi
	cli_eof vic
	cli_wait vic 10
fi

# --- a punch the contact's PUNCH started is still running when our ladder
# has no rung left (the server refused our own PUNCH): the message waits
# for that punch, which then connects (mallory's SYN from the PUNCH's
# port lands on wes's listener). ---
if [ -n "$MK" ]; then
	PX=$((HP + 2))
	FAKE_U="ERR 429 too many calls, wait a minute"
	need path_fake_punch_running fake wes 'IM 1 fake' 'OK 1.1' 'OK wes' \
		"ONLINE mallory 127.0.0.1 $PX $MK" 'REACH mallory closed 127.0.0.1' "PUNCH mallory 127.0.0.1 $PX"
	FAKE_U=""
	sed -i 's/^connect_timeout = .*/connect_timeout = 8/' "$T/wes.conf"
	cli_start wes 5
	tell wes "login wes wes-pw"
	setup path_wes_punching wait_for "$T/wes.err" 'punching to 127\.0\.0\.1 port' 10
	WP=$(sed -n 's/.*, peer port \([0-9][0-9]*\)$/\1/p' "$T/wes.err" | head -n 1)
	mark "$T/wes.out" "$T/wes.err"
	tell wes "msg mallory wait for the punch"
	setup path_wes_refused wait_new "$T/wes.err" 'asking the server for a punched connection' 10
	sleep 1
	: >"$T/wes.probe"
	"$PROBE" -w 10 -p "$PX" dial "$T/mal.key" "$T/mal.crt" 127.0.0.1 "$WP" mallory 'ACK 1' >"$T/wes.probe" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	if got_new wes '^(sent|failed) mallory 1' 10 && new_lines "$T/wes.out" | grep -q '^sent mallory 1$' &&
		new_lines "$T/wes.out" | grep -q '^path mallory punched$'; then
		pass path_ladder_waits_for_a_running_punch
	else
		fail path_ladder_waits_for_a_running_punch "wes: $(new_lines "$T/wes.out" | tr '\n' '|') probe: $(tr '\n' '|' <"$T/wes.probe")"
	fi
	cli_eof wes
	cli_wait wes 10
fi

# --- interactive: the conversation window says how it connected ---
if command -v script >/dev/null 2>&1; then
	need path_pair4_online pair kim lee 6 7
	cli_eof kim
	setup path_kim_batch_quit cli_wait kim 10
	rm -f "$T/tty.fifo"
	mkfifo "$T/tty.fifo"
	: >"$T/tty.out"
	script -qfec "\"$IM\" client --plain -c \"$T/kim.conf\"" /dev/null <"$T/tty.fifo" >"$T/tty.out" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	exec 6>"$T/tty.fifo"
	ttysay() { printf '%s\r' "$1" >&6; }
	setup path_tty_started wait_for "$T/tty.out" '/signup NAME to start' 10
	ttysay "/login kim kim-pw"
	setup path_tty_logged_in wait_for "$T/tty.out" 'logged in as kim' 10
	setup path_tty_lee_online wait_for "$T/tty.out" '\* lee is online' 10
	ttysay "/open lee"
	setup path_tty_window wait_for "$T/tty.out" '--- 2:lee ---' 10
	ttysay "hello from the terminal"
	if wait_for "$T/tty.out" '\* lee: connected \(direct\)' 10 && got lee '^msg kim 1 hello from the terminal$' 10; then
		pass path_interactive_window_line
	else
		fail path_interactive_window_line "$(tail -n 4 "$T/tty.out" | tr '\r\n' '||')"
	fi
	want path_interactive_peer_batch lee '^path kim direct$' 5
	ttysay "/quit"
	exec 6>&-
else
	skip path_interactive "script(1) is not installed (package bsdutils)"
fi

# --- the listener shares its port with the punch dials (SO_REUSEPORT),
# yet a second client on the same fixed peer_port is still refused ---
cli_conf nat1
setup path_nat1_started cli_start nat1 8
tell nat1 "signup nat1 nat1-pw"
setup path_nat1_ready got nat1 '^ready nat1$' 10
NP=$(sed -n 's/.*, peer port \([0-9][0-9]*\)$/\1/p' "$T/nat1.err" | head -n 1)
if [ -n "$NP" ]; then
	cli_conf nat2 "peer_port = $NP"
	"$IM" client -c "$T/nat2.conf" --batch </dev/null >"$T/nat2.out" 2>"$T/nat2.err"
	rc=$?
	if [ $rc -ne 0 ] && grep -q 'in use' "$T/nat2.err"; then pass path_shared_port_not_taken_twice; else
		fail path_shared_port_not_taken_twice "exit $rc: $(tr '\n' '|' <"$T/nat2.err")"; fi
else
	fail path_shared_port_not_taken_twice "nat1's peer port not found in its log: $(head -n 5 "$T/nat1.err" | tr '\n' '|')"
fi
cli_eof nat1

# The server's reachability probe (a connect that sends nothing) is not
# news on the probed client: logged at debug, never at info.
if grep -q '^.* reach nat1 at 127\.0\.0\.1:[0-9]*: open' "$T/s.log"; then
	if grep -q 'peer connection from .* closed' "$T/nat1.err"; then
		fail path_probe_not_logged_at_info "$(grep 'peer connection from' "$T/nat1.err" | head -n 2 | tr '\n' '|')"
	else
		pass path_probe_not_logged_at_info
	fi
else
	fail path_probe_not_logged_at_info "the server never probed nat1: $(grep 'reach nat1' "$T/s.log" | tr '\n' '|')"
fi

no_crash path_no_crash "$T"/*.err "$T/s.log"
