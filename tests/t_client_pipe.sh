#!/bin/sh
# t_client_pipe: a script's whole input in one pipe. DESIGN: end of input
# means quit once every command before it has been carried out (a login
# finished, each message sent or failed), and lines run in order, so
# "login" then "msg" in one write sends the message as a logged-in user.
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
cli_eof bob
no_crash pipe_no_crash "$T/s.log" "$T"/*.err
