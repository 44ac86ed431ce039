#!/bin/sh
# t_client_pipe: a script's whole input in one pipe. DESIGN: end of input
# means quit once every command before it has been carried out (a login
# finished, each message sent or failed), and lines run in order, so
# "login" then "msg" in one write sends the message as a logged-in user.
# Bounds: the lines after a login wait at most connect_timeout + 1 s (the
# client keeps retrying), the end of input at most 6 x connect_timeout +
# 1 s for the messages' outcomes (issue 12 point 5).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf"
need server_start srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&-
for id in alice bob; do cli_conf $id; done

# a login alone, piped: it finishes (ready), then bye, exit 0
printf 'signup alice alice-pw\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/p1.out" 2>"$T/p1.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$T/p1.out")" = "$(printf 'ready alice\nbye')" ]; then
	pass pipe_login_finishes_before_quit
else
	fail pipe_login_finishes_before_quit "exit $rc, out: $(tr '\n' '|' <"$T/p1.out") err: $(tail -n 3 "$T/p1.err" | tr '\n' '|')"
fi
# the same with no newline after the last line
printf 'login alice alice-pw' | "$IM" client -c "$T/alice.conf" --batch >"$T/p2.out" 2>"$T/p2.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^ready alice$' "$T/p2.out"; then pass pipe_last_line_login; else
	fail pipe_last_line_login "exit $rc, out: $(tr '\n' '|' <"$T/p2.out")"; fi

# bob waits online; alice's script logs in and sends in one write
cli_start bob 3
tell bob "signup bob bob-pw" "add alice"
need bob_ready got bob '^ready bob$'
printf 'login alice alice-pw\nadd bob\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/p3.out" 2>&1
need bob_sees_alice got bob '^online alice ' 10
mark "$T/bob.out"
printf 'login alice alice-pw\nmsg bob hello\\nfrom a pipe\n' |
	"$IM" client -c "$T/alice.conf" --batch >"$T/p4.out" 2>"$T/p4.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^sent bob 1$' "$T/p4.out" && tail -n 1 "$T/p4.out" | grep -q '^bye$'; then
	pass pipe_login_then_msg_sent
else
	fail pipe_login_then_msg_sent "exit $rc, out: $(tr '\n' '|' <"$T/p4.out") err: $(tail -n 3 "$T/p4.err" | tr '\n' '|')"
fi
if got_new bob '^msg alice 1 hello\\nfrom a pipe$' 5; then pass pipe_msg_delivered; else
	fail pipe_msg_delivered "bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi

# a refused login ends the wait too: the message after it fails, exit 1
printf 'login alice wrong-pw\nmsg bob hi\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/p5.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q '^error ' "$T/p5.out" && grep -q '^failed bob 1 ' "$T/p5.out"; then
	pass pipe_refused_login_then_msg_fails
else
	fail pipe_refused_login_then_msg_fails "exit $rc, out: $(tr '\n' '|' <"$T/p5.out")"
fi
# an unreachable server: the first attempt's error ends the wait
cli_conf dead "server_port = 1"
printf 'login alice alice-pw\nmsg bob hi\n' | timeout 20 "$IM" client -c "$T/dead.conf" --batch >"$T/p6.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q '^error ' "$T/p6.out" && grep -q '^failed bob 1 offline$' "$T/p6.out"; then
	pass pipe_unreachable_server_ends
else
	fail pipe_unreachable_server_ends "exit $rc, out: $(tr '\n' '|' <"$T/p6.out")"
fi
# the configured user logs in by itself: piped lines wait for it too
printf 'alice-pw\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
cli_conf alice2 "user = alice" "password_file = $T/alice.pw" "state_dir = $T/alice"
mark "$T/bob.out"
printf 'msg bob auto\n' | "$IM" client -c "$T/alice2.conf" --batch >"$T/p7.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q '^ready alice$' "$T/p7.out" && grep -q '^sent bob 1$' "$T/p7.out"; then
	pass pipe_configured_user_then_msg
else
	fail pipe_configured_user_then_msg "exit $rc, out: $(tr '\n' '|' <"$T/p7.out")"
fi
# a second one-shot run's message 1 is a new message, not a repeat of the
# first run's (ACKed, but never shown, before)
if got_new bob '^msg alice 1 auto$' 5; then pass pipe_second_run_msg_shown; else
	fail pipe_second_run_msg_shown "bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi

# only_events FILE: FILE without the presence and path lines, one line
# joined by "|".
only_events() { grep -Ev '^(online|offline|path) ' "$1" | tr '\n' '|'; }

# the whole story of a one-shot pipe, exactly
mark "$T/bob.out"
printf 'login alice alice-pw\nmsg bob hi\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/e1.out" 2>"$T/e1.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(only_events "$T/e1.out")" = "ready alice|sent bob 1|bye|" ] &&
	got_new bob '^msg alice 1 hi$' 5; then
	pass pipe_exact_ready_sent_bye
else
	fail pipe_exact_ready_sent_bye "exit $rc, out: $(tr '\n' '|' <"$T/e1.out")"
fi

# a contact that is offline: failed ... offline, before bye
printf 'signup carol carol-pw\nadd alice\n' | "$IM" client -c "$(cli_conf carol && echo "$T/carol.conf")" --batch >/dev/null 2>&1
printf 'login alice alice-pw\nadd carol\nmsg carol hi\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/e2.out" 2>"$T/e2.err"
rc=$?
if [ $rc -eq 0 ] && [ "$(only_events "$T/e2.out")" = "ready alice|failed carol 1 offline|bye|" ]; then
	pass pipe_offline_contact_failed_before_bye
else
	fail pipe_offline_contact_failed_before_bye "exit $rc, out: $(tr '\n' '|' <"$T/e2.out")"
fi

# a refused login: the server's reason, then the msg fails saying why, exit 1
printf 'login alice wrong-pw\nmsg bob hi\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/e3.out" 2>"$T/e3.err"
rc=$?
want3='error login failed: 401 bad name or password|error not logged in: the message to bob fails (log in first: login NAME PASSWORD)|failed bob 1 offline|bye|'
if [ $rc -eq 1 ] && [ "$(tr '\n' '|' <"$T/e3.out")" = "$want3" ]; then pass pipe_wrong_password_exact; else
	fail pipe_wrong_password_exact "exit $rc, out: $(tr '\n' '|' <"$T/e3.out")"; fi
printf 'login nosuchuser some-pw\nmsg bob hi\n' | "$IM" client -c "$T/alice.conf" --batch >"$T/e4.out" 2>"$T/e4.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(tr '\n' '|' <"$T/e4.out")" = "$want3" ]; then pass pipe_unknown_user_exact; else
	fail pipe_unknown_user_exact "exit $rc, out: $(tr '\n' '|' <"$T/e4.out")"; fi

# the server not reachable at all: the lines wait connect_timeout + 1 s
# (4 s) for the retries, then an error names the server and why, exit 1
t0=$(date +%s)
printf 'login alice alice-pw\nmsg bob hi\n' | timeout 30 "$IM" client -c "$T/dead.conf" --batch >"$T/e5.out" 2>"$T/e5.err"
rc=$? dt=$(($(date +%s) - t0))
if [ $rc -eq 1 ] && [ $dt -ge 3 ] && [ $dt -le 7 ] &&
	grep -q '^error not logged in after 4 s (cannot reach server 127\.0\.0\.1:1 (.*refused.*); retrying); going on' "$T/e5.out" &&
	[ "$(tail -n 2 "$T/e5.out" | tr '\n' '|')" = "failed bob 1 offline|bye|" ]; then
	pass pipe_unreachable_gives_up_in_bound
else
	fail pipe_unreachable_gives_up_in_bound "exit $rc after ${dt}s, out: $(tr '\n' '|' <"$T/e5.out")"
fi

# a server that comes up while the login retries: the lines wait for it
# (on the old code the first "cannot reach" ended the wait: no ready)
MPORT=$PORT MPID=$SRV_PID
srv_conf "$T/s2.conf" "data_dir = $T/data2"
need server2_once srv_start "$T/s2.conf" "$T/s2.log" 3>&- 4>&- 5>&-
P2=$PORT
kill "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
cli_conf zed "server_port = $P2" "connect_timeout = 6" "reconnect_base_ms = 100" "reconnect_max_ms = 300"
PORT=$MPORT
(printf 'signup zed zed-pw\nwho\n' | timeout 30 "$IM" client -c "$T/zed.conf" --batch >"$T/z.out" 2>"$T/z.err"
	echo $? >"$T/z.rc") 3>&- 4>&- 5>&- &
ZPID=$!
PIDS="$PIDS $ZPID"
setup zed_retrying wait_for "$T/z.out" '^error cannot reach server' 10
srv_conf "$T/s3.conf" "data_dir = $T/data2" "port = $P2"
setup server2_again srv_start "$T/s3.conf" "$T/s3.log" 3>&- 4>&- 5>&-
wait "$ZPID"
if [ "$(cat "$T/z.rc" 2>/dev/null)" = 0 ] && grep -q '^ready zed$' "$T/z.out" && tail -n 1 "$T/z.out" | grep -q '^bye$'; then
	pass pipe_login_waits_out_retries
else
	fail pipe_login_waits_out_retries "exit $(cat "$T/z.rc" 2>/dev/null), out: $(tr '\n' '|' <"$T/z.out")"
fi
kill "$SRV_PID" 2>/dev/null
PORT=$MPORT SRV_PID=$MPID

# a message whose fate takes longer than connect_timeout (3 s): gil is
# stopped and its listener's backlog (64) is full (tcphold), so no dial to
# it gets past TCP: the direct path times out, then the server-assisted
# ones (reverse, punched) run out too, "unreachable" after two or three
# connect_timeouts. The end of input waits for it (at most 6 x 3 + 1 s);
# the old client quit after one connect_timeout and failed it "closed".
cli_conf gil
cli_conf hank
cli_start gil 4
tell gil "signup gil gil-pw" "add hank"
setup gil_ready got gil '^ready gil$'
printf 'signup hank hank-pw\nadd gil\n' | "$IM" client -c "$T/hank.conf" --batch >/dev/null 2>&1
setup gil_open wait_for "$T/gil.err" 'our peer port is reachable' 10
GPORT=$(sed -n 's/.*peer port \([0-9]*\)$/\1/p' "$T/gil.err" | head -n 1)
kill -STOP "$CPID_gil"
"$TOP/build/tests/tcphold" -w 60 127.0.0.1 "$GPORT" 65 >"$T/gil.hold" 2>&1 3>&- 4>&- 5>&- &
PIDS="$PIDS $!"
setup gil_backlog_full wait_for "$T/gil.hold" '^\*connected 65' 10
t0=$(date +%s)
printf 'login hank hank-pw\nmsg gil anyone there\n' | timeout 60 "$IM" client -c "$T/hank.conf" --batch >"$T/h.out" 2>"$T/h.err"
rc=$? dt=$(($(date +%s) - t0))
if [ $rc -eq 0 ] && [ "$(only_events "$T/h.out")" = "ready hank|failed gil 1 unreachable|bye|" ] &&
	[ $dt -ge 4 ] && [ $dt -le 21 ]; then
	pass pipe_waits_for_slow_outcome
else
	fail pipe_waits_for_slow_outcome "exit $rc after ${dt}s, out: $(tr '\n' '|' <"$T/h.out")"
fi
# an explicit quit does not wait for that: at most connect_timeout for
# messages in flight (as SIGTERM), then what is left fails "closed", once
t0=$(date +%s)
printf 'login hank hank-pw\nmsg gil quit soon\nquit\n' | timeout 60 "$IM" client -c "$T/hank.conf" --batch >"$T/hq.out" 2>"$T/hq.err"
rc=$? dt=$(($(date +%s) - t0))
kill -CONT "$CPID_gil"
if [ $rc -eq 0 ] && [ "$(only_events "$T/hq.out")" = "ready hank|failed gil 1 closed|bye|" ] && [ $dt -le 6 ]; then
	pass pipe_quit_fails_pending_closed_once
else
	fail pipe_quit_fails_pending_closed_once "exit $rc after ${dt}s, out: $(tr '\n' '|' <"$T/hq.out")"
fi
cli_eof gil

# a peer that never answers (stopped: its kernel takes the connection,
# nobody speaks TLS): failed ... timeout within connect_timeout, then bye
kill -STOP "$CPID_bob"
t0=$(date +%s)
printf 'login alice alice-pw\nmsg bob are you there\n' | timeout 60 "$IM" client -c "$T/alice.conf" --batch >"$T/e6.out" 2>"$T/e6.err"
rc=$? dt=$(($(date +%s) - t0))
kill -CONT "$CPID_bob"
if [ $rc -eq 0 ] && [ "$(only_events "$T/e6.out")" = "ready alice|failed bob 1 timeout|bye|" ] && [ $dt -le 8 ]; then
	pass pipe_hanging_peer_timeout_then_bye
else
	fail pipe_hanging_peer_timeout_then_bye "exit $rc after ${dt}s, out: $(tr '\n' '|' <"$T/e6.out")"
fi

cli_eof bob
no_crash pipe_no_crash "$T/s.log" "$T"/*.err
