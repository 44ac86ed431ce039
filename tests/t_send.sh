#!/bin/sh
# t_send: "im send NAME TEXT..." (issue 12 point 5), the one-shot sender in
# the spirit of mosquitto_pub, against a real server and a batch peer: exit
# 0 and silence once the peer acknowledged (the peer's batch shows the
# message), exit 1 with "im send: NAME: <reason text> (<word>)" or the
# login's failure otherwise, within its bounds (-w; the login's
# connect_timeout + 1 s), exit 2 for bad usage; text from stdin, escaping
# (newlines, control bytes: never raw on the peer's side), too long a text,
# no password, --help true to what it lists, the im-send link.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf"
need server_start srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&-

# sconf ID [LINE...]: an im send config for the alice account (state
# $T/alice, password file $T/alice.pw), logging warnings only, so a success
# prints nothing at all.
sconf() {
	sid=$1
	shift
	{
		printf '[client]\nserver = 127.0.0.1\nserver_port = %s\nstate_dir = %s/alice\n' "$PORT" "$T"
		printf 'peer_listen = 127.0.0.1\nconnect_timeout = 3\nlog_level = warn\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$T/$sid.conf"
}

# run_send NAME ARGS...: runs im send, stdout to $T/NAME.out, stderr to
# $T/NAME.err; sets RC and DT (whole seconds taken).
run_send() {
	rs=$1
	shift
	t0=$(date +%s)
	timeout 60 "$IM" send "$@" >"$T/$rs.out" 2>"$T/$rs.err" </dev/null
	RC=$?
	DT=$(($(date +%s) - t0))
}

# said NAME TEXT: the stderr of run NAME is exactly the line TEXT.
said() { [ "$(cat "$T/$1.err")" = "$2" ]; }

# result NAME COND-CMD...: PASS when CMD holds, else FAIL with the run's
# exit status, time and output.
result() {
	rn=$1
	shift
	if "$@"; then pass "$rn"; else
		fail "$rn" "exit $RC after ${DT}s; out: $(head -c 300 "$T/$RUN.out" | tr '\n' '|') err: $(head -c 400 "$T/$RUN.err" | tr '\n' '|')"
	fi
}

# accounts: alice (the sender), bob (a batch peer, online), carol (a
# mutual contact of alice, offline), dave (no contact of alice)
cli_conf alice
cli_conf bob
printf 'signup carol carol-pw\nadd alice\n' | "$IM" client -c "$(cli_conf carol && echo "$T/carol.conf")" --batch >/dev/null 2>&1
printf 'signup dave dave-pw\n' | "$IM" client -c "$(cli_conf dave && echo "$T/dave.conf")" --batch >/dev/null 2>&1
# alice's first run pins the server's key and lists bob and carol
need alice_signup sh -c "printf 'signup alice alice-pw\nadd bob\nadd carol\n' | '$IM' client -c '$T/alice.conf' --batch 2>/dev/null | grep -q '^ready alice\$'"
printf 'alice-pw\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
sconf a "user = alice" "password_file = $T/alice.pw"
cli_start bob 3
tell bob "signup bob bob-pw" "add alice"
need bob_ready got bob '^ready bob$'

# --- success: exit 0, nothing printed, bob's batch got it ---
mark "$T/bob.out"
RUN=ok
run_send ok -c "$T/a.conf" bob hello "there," '  two spaces'
result send_ok_exit0_silent [ $RC -eq 0 ] && [ ! -s "$T/ok.out" ] && [ ! -s "$T/ok.err" ]
if got_new bob '^msg alice 1 hello there,   two spaces$' 5; then pass send_ok_delivered_words_joined; else
	fail send_ok_delivered_words_joined "bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi
if got_new bob '^offline alice$' 5; then pass send_ok_logs_out; else
	fail send_ok_logs_out "bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi

# --- a second run: its message 1 is a new message, not a repeat ---
mark "$T/bob.out"
RUN=again
run_send again -c "$T/a.conf" bob second run
if [ $RC -eq 0 ] && got_new bob '^msg alice 1 second run$' 5; then pass send_second_run_delivered; else
	fail send_second_run_delivered "exit $RC, bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi

# --- the text from stdin: a newline kept (as \n), the final one dropped ---
mark "$T/bob.out"
printf 'line one\nline two \\ end\n' | timeout 60 "$IM" send -c "$T/a.conf" bob - >"$T/in.out" 2>"$T/in.err"
RC=$?
if [ $RC -eq 0 ] && got_new bob '^msg alice 1 line one\\nline two \\\\ end$' 5; then pass send_stdin_newline; else
	fail send_stdin_newline "exit $RC, err: $(cat "$T/in.err") bob: $(new_lines "$T/bob.out" | tr '\n' '|')"; fi

# --- control bytes in TEXT: sent, and shown escaped, never raw ---
mark "$T/bob.out"
RUN=ctl
run_send ctl -c "$T/a.conf" bob "$(printf 'a\033[2Jb\tc\007d\re')"
if [ $RC -eq 0 ] && got_new bob '^msg alice 1 a\\x1b\[2Jb\\tc\\x07d\\re$' 5; then pass send_control_bytes_escaped; else
	fail send_control_bytes_escaped "exit $RC, bob: $(new_lines "$T/bob.out" | od -c | head -n 5 | tr '\n' '|')"; fi
if ! new_lines "$T/bob.out" | tr -d '\n' | LC_ALL=C grep -q "$(printf '[\001-\037\177]')"; then pass send_control_bytes_none_raw; else
	fail send_control_bytes_none_raw "a raw control byte in bob's output"; fi

# --- failures: exit 1 with the reason word ---
RUN=off
run_send off -c "$T/a.conf" carol hi
result send_offline_contact [ $RC -eq 1 ] && said off "im send: carol: not online (offline)"
RUN=nc
run_send nc -c "$T/a.conf" dave hi
result send_not_a_contact [ $RC -eq 1 ] && said nc "im send: dave: not a mutual contact (notcontact)"

# wrong password (a fresh state dir: no resume token stands in for it)
printf 'not-the-pw\n' >"$T/wrong.pw"
chmod 600 "$T/wrong.pw"
sconf w "user = alice" "password_file = $T/wrong.pw" "state_dir = $T/fresh"
RUN=wpw
run_send wpw -c "$T/w.conf" bob hi
result send_wrong_password [ $RC -eq 1 ] &&
	grep -q '^im send: login failed: 401 bad name or password$' "$T/wpw.err" && [ ! -s "$T/wpw.out" ]
sconf u "user = nosuchuser" "password_file = $T/wrong.pw" "state_dir = $T/fresh"
RUN=uu
run_send uu -c "$T/u.conf" bob hi
result send_unknown_user [ $RC -eq 1 ] && grep -q '^im send: login failed: 401 ' "$T/uu.err"

# no password: none in the config, no token stored; and a missing file
sconf np "user = alice" "state_dir = $T/fresh2"
RUN=np
run_send np -c "$T/np.conf" bob hi
result send_no_password_file [ $RC -eq 1 ] && [ $DT -le 3 ] &&
	grep -q "^im send: no password for alice: set password_file in \[client\] of $T/np.conf" "$T/np.err"
sconf mf "user = alice" "password_file = $T/missing.pw" "state_dir = $T/fresh2"
RUN=mf
run_send mf -c "$T/mf.conf" bob hi
result send_missing_password_file [ $RC -eq 1 ] &&
	grep -q "^im send: password_file $T/missing.pw: No such file or directory$" "$T/mf.err"
sconf nu
RUN=nu
run_send nu -c "$T/nu.conf" bob hi
result send_no_user [ $RC -eq 1 ] && grep -q '^im send: no user: set user in \[client\]' "$T/nu.err"
# -u names the user (its password file from the config)
mark "$T/bob.out"
sconf pu "password_file = $T/alice.pw"
RUN=pu
run_send pu -c "$T/pu.conf" -u alice bob by -u
if [ $RC -eq 0 ] && got_new bob '^msg alice 1 by -u$' 5; then pass send_u_option; else
	fail send_u_option "exit $RC, err: $(cat "$T/pu.err")"; fi

# the server not reachable: exit 1 within the login's bound (3 + 1 s)
sconf dead "user = alice" "password_file = $T/alice.pw" "server_port = 1"
RUN=dead
run_send dead -c "$T/dead.conf" bob hi
result send_unreachable_server [ $RC -eq 1 ] && [ $DT -le 6 ] &&
	grep -q '^im send: no login within 4 s: cannot reach server 127\.0\.0\.1:1 (.*refused' "$T/dead.err"


# --- too long a text: refused before any login ---
long=$(head -c 1000 /dev/zero | tr '\0' x)
RUN=long
run_send long -c "$T/dead.conf" bob "$long"
result send_too_long [ $RC -eq 1 ] && [ $DT -le 2 ] && grep -q '^im send: the message is too long' "$T/long.err"
printf '%s\n' "$long" | timeout 10 "$IM" send -c "$T/dead.conf" bob - >"$T/long2.out" 2>"$T/long2.err"
RC=$? RUN=long2 DT=0
result send_too_long_stdin [ $RC -eq 1 ] && grep -q '^im send: the message is too long' "$T/long2.err"
head -c 3000 /dev/zero | tr '\0' y | timeout 10 "$IM" send -c "$T/dead.conf" bob - >"$T/long3.out" 2>"$T/long3.err"
RC=$? RUN=long3
result send_too_long_stdin_big [ $RC -eq 1 ] && grep -q '^im send: the message on stdin is too long' "$T/long3.err"
# 998 bytes escaped fit a 1024-byte line with "MSG <id> " (the id counted at 20 digits)
fits=$(head -c 998 /dev/zero | tr '\0' z)
mark "$T/bob.out"
RUN=fits
run_send fits -c "$T/a.conf" bob "$fits"
result send_longest_fits [ $RC -eq 0 ] && got_new bob "^msg alice 1 z{998}\$" 5
printf '' | timeout 10 "$IM" send -c "$T/dead.conf" bob - >"$T/empty.out" 2>"$T/empty.err"
RC=$? RUN=empty
result send_empty_stdin [ $RC -eq 1 ] && grep -q '^im send: the message is empty$' "$T/empty.err"
printf 'a\377b' | timeout 10 "$IM" send -c "$T/dead.conf" bob - >"$T/utf.out" 2>"$T/utf.err"
RC=$? RUN=utf
result send_bad_utf8 [ $RC -eq 1 ] && grep -q '^im send: the message is not valid UTF-8$' "$T/utf.err"

# --- usage: exit 2 with a hint ---
expect_exit send_usage_no_args 2 "try 'im send --help'" "$IM" send
expect_exit send_usage_no_text 2 "no TEXT" "$IM" send bob
expect_exit send_usage_bad_wait 2 "-w needs SECONDS" "$IM" send -w 0 bob hi
expect_exit send_usage_bad_wait2 2 "-w needs SECONDS" "$IM" send --wait x bob hi
expect_exit send_usage_bad_name 2 "not a valid name" "$IM" send 'Bob!' hi
expect_exit send_usage_bad_option 2 "bad argument '-x'" "$IM" send -x bob hi
expect_exit send_to_self 1 "im send: alice: that is the user sending" "$IM" send -c "$T/a.conf" alice hi

# --- --help: exit 0, and every option it lists is one send takes ---
"$IM" send --help >"$T/help.out" 2>&1
RC=$? RUN=help
result send_help [ $RC -eq 0 ] && grep -q '^usage: im send ' "$T/help.out"
opts=$(grep -oE '(^|[ ,])--?[a-z][a-z-]*' "$T/help.out" | sed 's/^[ ,]//' | sort -u | tr '\n' ' ')
if [ "$opts" = "--help --wait -c -h -u -w " ]; then pass send_help_lists_options; else
	fail send_help_lists_options "lists: $opts"; fi
# (-c, -u, -w and --wait work above; -h and --help here; -- ends options)
expect_exit send_h 0 '^usage: im send' "$IM" send -h
mark "$T/bob.out"
RUN=dd
run_send dd -c "$T/a.conf" -- bob -w is text here
if [ $RC -eq 0 ] && got_new bob '^msg alice 1 -w is text here$' 5; then pass send_double_dash; else
	fail send_double_dash "exit $RC, err: $(cat "$T/dd.err")"; fi

# --- last, as bob is stopped for it: a peer that never answers (its
# kernel takes the TCP connection, nobody speaks TLS): -w 2 ends the wait
# before connect_timeout (3 s) would ---
mark "$T/bob.out"
kill -STOP "$CPID_bob"
RUN=hang
run_send hang -c "$T/a.conf" -w 2 bob are you there
result send_wait_limit [ $RC -eq 1 ] && [ $DT -le 3 ] && said hang "im send: bob: no answer in time (timeout)"
RUN=hang2
run_send hang2 -c "$T/a.conf" --wait 1 bob still there
result send_wait_long_option [ $RC -eq 1 ] && [ $DT -le 2 ] && said hang2 "im send: bob: no answer in time (timeout)"
# without -w: the peer's own timeout (connect_timeout) says it
RUN=hang3
run_send hang3 -c "$T/a.conf" bob and now
result send_peer_timeout [ $RC -eq 1 ] && [ $DT -le 6 ] && said hang3 "im send: bob: no answer in time (timeout)"
kill -CONT "$CPID_bob"

# --- the im-send link dispatches on its name; im help lists the mode ---
ln -s "$IM" "$T/im-send"
expect_exit send_link 2 "im send: no NAME and TEXT" "$T/im-send"
expect_exit send_in_help 0 'send +send one message and wait for it to be delivered' "$IM" help

cli_eof bob
no_crash send_no_crash "$T/s.log" "$T"/*.err
