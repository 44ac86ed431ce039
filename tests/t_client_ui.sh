#!/bin/sh
# t_client_ui: what a person reads. --help explains the key and the slash
# commands; a bad name gets the whole rule; too many failed logins say so
# (not "unreachable"); batch exit status is 1 when no login succeeded; and
# interactively (plain line mode on a pseudo-terminal): the password prompt,
# a signup that asks twice, the server-key notice once, an empty /who, the
# small frictions (/add yourself, /fingerprint, //text, a failed message);
# a contact's next run is not taken for repeats of its last one's ids.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf" "max_failures_per_name = 3"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&-; then
	fail ui_server_start "no readiness line"
	exit 1
fi

"$IM" client --help >"$T/help.out" 2>&1
if ! grep -q DESIGN "$T/help.out" && grep -q 'SHA-256' "$T/help.out" && grep -q '/signup NAME' "$T/help.out" &&
	grep -q '/open NAME' "$T/help.out"; then
	pass ui_help_explains_key_and_commands
else
	fail ui_help_explains_key_and_commands "$(tr '\n' ' ' <"$T/help.out")"
fi

# --- batch: the name rule, a refused login, its exit status ---
cli_conf eve
# exit_of ID: closes client ID's input, waits for it; its status in rc.
exit_of() {
	cli_eof "$1"
	cli_wait "$1" 10
	eval "wait \$CPID_$1"
	rc=$?
}
cli_start eve 3
tell eve "login -eve pw" "signup eve eve-pw1"
got eve '^ready eve$'
exit_of eve
if grep -q "^error '-eve' is not a valid name (1-32 of a-z 0-9 _ \. -, starting with a letter or digit)$" "$T/eve.out"; then
	pass ui_bad_name_full_rule
else
	fail ui_bad_name_full_rule "$(head -n 2 "$T/eve.out" | tr '\n' '|')"
fi
if [ "$rc" -eq 0 ] && grep -q '^ready eve$' "$T/eve.out"; then pass ui_batch_exit_0_after_login; else
	fail ui_batch_exit_0_after_login "exit $rc: $(tr '\n' '|' <"$T/eve.out")"; fi
cli_start eve 3
tell eve "login eve wrong-pw"
setup eve_refused got eve '^error login failed'
exit_of eve
if [ "$rc" -eq 1 ] && grep -q '^bye$' "$T/eve.out"; then
	pass ui_batch_exit_1_login_refused
else
	fail ui_batch_exit_1_login_refused "exit $rc: $(tr '\n' '|' <"$T/eve.out")"
fi

# --- too many failed logins: said as such ---
cli_start eve 3
for i in 1 2; do
	tell eve "login eve wrong-pw"
	setup "eve_refused_$i" got_n eve '^error login failed' "$i" 10
done
tell eve "login eve eve-pw1"
want ui_too_many_failed_logins eve '^error too many failed logins for eve; wait a minute' 5
if grep -q 'cannot reach\|busy' "$T/eve.out"; then
	fail ui_too_many_not_unreachable "$(grep 'cannot reach\|busy' "$T/eve.out")"
else
	pass ui_too_many_not_unreachable
fi
cli_eof eve
cli_wait eve 5

# --- interactive, on a pseudo-terminal ---
if command -v script >/dev/null 2>&1; then
	cli_conf zed
	rm -f "$T/tty.fifo"
	mkfifo "$T/tty.fifo"
	: >"$T/tty.out"
	script -qfec "\"$IM\" client --plain -c \"$T/zed.conf\"" /dev/null <"$T/tty.fifo" >"$T/tty.out" 2>&1 3>&- 4>&- 5>&- &
	PIDS="$PIDS $!"
	exec 6<>"$T/tty.fifo"
	ttysay() { printf '%s\r' "$1" >&6; }
	setup tty_started wait_for "$T/tty.out" '/signup NAME to start' 10
	ttysay "/signup zed"
	# plain mode: the password is asked on the input line, after a line
	# naming the account
	if wait_for "$T/tty.out" 'new password for zed \(nothing is shown' 5 && wait_for "$T/tty.out" 'new password: ' 5; then
		pass ui_password_prompt; else
		fail ui_password_prompt "$(tr '\r\n' '||' <"$T/tty.out")"; fi
	ttysay "zed-pw-one"
	setup tty_asked_again wait_for "$T/tty.out" 'again: ' 10
	ttysay "zed-pw-two"
	if wait_for "$T/tty.out" 'the passwords do not match' 5 && ! grep -q 'logged in as' "$T/tty.out"; then
		pass ui_signup_mismatch_refused
	else
		fail ui_signup_mismatch_refused "$(tr '\r\n' '||' <"$T/tty.out")"
	fi
	ttysay "/signup zed"
	setup tty_prompt_2 got_n tty 'new password for zed' 2 10
	ttysay "zed-pw-one"
	setup tty_again_2 got_n tty 'password again: ' 2 10
	ttysay "zed-pw-one"
	if wait_for "$T/tty.out" 'logged in as zed' 5; then pass ui_signup_twice_same; else
		fail ui_signup_twice_same "$(tr '\r\n' '||' <"$T/tty.out")"; fi
	n=$(grep -c 'on first use' "$T/tty.out")
	if [ "$n" -eq 1 ]; then pass ui_server_key_notice_once; else
		fail ui_server_key_notice_once "$n times: $(grep 'first use' "$T/tty.out" | tr '\r\n' '||')"; fi
	ttysay "/who"
	want_tty() { if wait_for "$T/tty.out" "$2" 5; then pass "$1"; else fail "$1" "$(tail -n 3 "$T/tty.out" | tr '\r\n' '||')"; fi; }
	want_tty ui_who_empty_hint '\(no contacts yet; /add NAME\)'
	ttysay "/quit"
	want_tty ui_interactive_quit '\* bye'
	exec 6>&-
else
	skip ui_interactive "script(1) is not installed (package bsdutils)"
fi

# --- a contact's next run numbers its messages from 1 again: they are new
# messages (before: acknowledged unseen, as repeats of the last run's ids)
cli_conf pal
cli_conf kit
cli_start pal 3
tell pal "signup pal pal-pw1" "add kit"
setup pal_ready got pal '^ready pal$'
cli_start kit 4
tell kit "signup kit kit-pw1" "add pal"
setup kit_ready got kit '^ready kit$'
setup kit_sees_pal got kit '^online pal ' 10
tell pal "msg kit first-run"
setup pal_first_sent got pal '^sent kit 1$' 15
setup kit_got_first got kit '^msg pal 1 first-run$' 5
tell pal quit
cli_eof pal
setup pal_quit cli_wait pal 10
setup kit_sees_pal_leave got kit '^offline pal$' 10
cli_start pal 3
tell pal "login pal pal-pw1"
setup pal_ready_2 got pal '^ready pal$'
setup pal_sees_kit got pal '^online kit ' 10
tell pal "msg kit second-run"
setup pal_second_sent got pal '^sent kit 1$' 15
want ui_next_run_same_id_is_new kit '^msg pal 1 second-run$' 5
tell pal quit
cli_eof pal
setup pal_quit_2 cli_wait pal 10

# --- plain line mode: the small frictions (/add yourself, /fingerprint,
# //text, a failed message marked) ---
if command -v script >/dev/null 2>&1; then
	rm -f "$T/tty3.fifo"
	mkfifo "$T/tty3.fifo"
	: >"$T/tty3.out"
	script -qfec "\"$IM\" client --plain -c \"$T/pal.conf\" 2>>\"$T/pal.err\"" /dev/null <"$T/tty3.fifo" >"$T/tty3.out" 2>&1 3>&- 4>&- 5>&- &
	PIDS="$PIDS $!"
	exec 5<>"$T/tty3.fifo" # read-write: no hang if the client is gone at once
	say3() { printf '%s\r' "$1" >&5; }
	want3() { if wait_for "$T/tty3.out" "$2" "${3:-10}"; then pass "$1"; else fail "$1" "$(tail -n 4 "$T/tty3.out" | tr '\r\n' '||')"; fi; }
	need tty3_started wait_for "$T/tty3.out" '/signup NAME to start' 10
	say3 "/login pal pal-pw1"
	need tty3_logged_in wait_for "$T/tty3.out" 'logged in as pal' 10
	setup tty3_kit_online wait_for "$T/tty3.out" '\* kit is online' 10
	say3 "/add pal"
	want3 ui_add_yourself_refused '\* you cannot add yourself'
	# hex in groups of four
	grouped() { printf '%s\n' "$1" | sed 's/..../& /g;s/ $//'; }
	PALKEY=$(grouped "$("$IM" client -c "$T/pal.conf" --fingerprint)")
	KITKEY=$(grouped "$("$IM" client -c "$T/kit.conf" --fingerprint)")
	say3 "/fingerprint"
	want3 ui_fingerprint_own "\* your key: $PALKEY"
	say3 "/fingerprint kit"
	want3 ui_fingerprint_contact "\* kit's key: $KITKEY"
	say3 "/open kit"
	setup tty3_window wait_for "$T/tty3.out" '--- 2:kit ---' 10
	say3 "//slash-text"
	want ui_double_slash_sends_slash kit '^msg pal [^ ]+ /slash-text$' 15
	tell kit quit
	cli_eof kit
	setup kit_quit cli_wait kit 10
	setup tty3_kit_offline wait_for "$T/tty3.out" '\* kit went offline' 10
	say3 "too-late"
	want3 ui_failed_marked_in_window 'pal: too-late \[not delivered: [a-z]' 20
	say3 "/quit"
	setup tty3_bye wait_for "$T/tty3.out" '\* bye' 10
	exec 5>&-
else
	skip ui_plain_frictions "script(1) is not installed (package bsdutils)"
fi

# --- a slow terminal switch: strace holds every ioctl 0.3 s, as a slow
# board or an emulator may; the password typed the moment its prompt shows
# is neither echoed nor lost (echo goes off before the prompt is printed)
if ! command -v script >/dev/null 2>&1 || ! command -v strace >/dev/null 2>&1; then
	skip ui_password_typed_at_prompt "script(1) or strace is not installed"
else
	cli_conf yan
	rm -f "$T/tty2.fifo"
	mkfifo "$T/tty2.fifo"
	: >"$T/tty2.out"
	script -qfec "ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -e trace=ioctl \
		-e inject=ioctl:delay_enter=300000 \"$IM\" client --plain -c \"$T/yan.conf\"" /dev/null \
		<"$T/tty2.fifo" >"$T/tty2.out" 2>&1 3>&- 4>&- 5>&- &
	PIDS="$PIDS $!"
	exec 6<>"$T/tty2.fifo"
	need tty2_started wait_for "$T/tty2.out" '/signup NAME to start' 30
	printf '/signup yan\r' >&6
	setup tty2_prompt wait_for "$T/tty2.out" 'new password: ' 30 && printf 'yan-secret-1\r' >&6
	setup tty2_again wait_for "$T/tty2.out" 'again: ' 30 && printf 'yan-secret-1\r' >&6
	if wait_for "$T/tty2.out" 'logged in as yan' 30 && ! grep -q 'yan-secret' "$T/tty2.out"; then
		pass ui_password_typed_at_prompt
	else
		fail ui_password_typed_at_prompt "$(tr '\r\n' '||' <"$T/tty2.out")"
	fi
	printf '/quit\r' >&6
	wait_for "$T/tty2.out" '\* bye' 30
	exec 6>&-
fi

srv_stop ui_server_stops
no_crash ui_no_crash "$T/s.log" "$T/eve.err" "$T/tty.out" "$T/tty3.out" "$T/pal.err" "$T/kit.err"
