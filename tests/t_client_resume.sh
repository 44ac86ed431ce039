#!/bin/sh
# t_client_resume: the client side of resume tokens (issue 8) and its
# jittered reconnect backoff. Part 1 drives the client against a scripted
# login server (peerprobe -s listen): the token is stored per server and
# key (0600, never the password), RESUME is sent at start without a
# password and rotates the token, another server (port or key) never sees
# it, ERR 401 falls back to the password or says clearly that one is
# needed, KICKED forgets it, resume_tokens = no ignores it, and a password
# typed with "login NAME PASSWORD" is checked (LOGIN), never skipped. Part 2 counts
# the retry delays against a dead port: every one within [floor, cap].
# Part 3 runs the client against the real server: sign-up stores a token,
# a start without any password resumes, a server restart is survived on
# the rotated token, im passwd revokes it (a clear error), a stolen token
# used elsewhere kicks the client, which then forgets its token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
PROBE=$TOP/build/tests/peerprobe

# tok N: a well-formed token (43 base64url characters) numbered N.
tok() { printf 'tok%040d' "$1"; }
T1=$(tok 1) T2=$(tok 2) T3=$(tok 3) T4=$(tok 4) T6=$(tok 6) T7=$(tok 7) T8=$(tok 8) T9=$(tok 9)
ST=$T/alice # the one state directory every phase shares

# rconf ID PORT [LINE...]: client ID's config: state $ST, server port PORT.
rconf() {
	rid=$1 rport=$2
	shift 2
	{
		printf '[client]\nserver = 127.0.0.1\nserver_port = %s\nstate_dir = %s\n' "$rport" "$ST"
		printf 'peer_listen = 127.0.0.1\nping_interval = 1\nconnect_timeout = 5\nlog_level = info\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$T/$rid.conf"
}

# fake ID [-p PORT] [-k PREFIX] LINE...: a login server for one
# connection that sends LINEs after the handshake and answers what a
# logged-in client sends; presents PREFIX.key (default $T/fake.key).
# Sets FPORT. What it receives is "< LINE" in $T/ID.fake.
fake() {
	fid=$1 fport=0 fkey=$T/fake
	shift
	while :; do
		case ${1:-} in
		-p) fport=$2 && shift 2 ;;
		-k) fkey=$2 && shift 2 ;;
		*) break ;;
		esac
	done
	# It plays a version-1 server: the client's first line, VERSION 1.1,
	# is unknown to it.
	if [ $# -gt 0 ]; then
		g=$1
		shift
		set -- "$g" 'ERR 400 unknown command: VERSION' "$@"
	fi
	: >"$T/$fid.fake"
	"$PROBE" -w 30 -s -p "$fport" listen "$fkey.key" "$fkey.crt" fake "$@" >"$T/$fid.fake" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	eval "FPID_$fid=$!"
	PIDS="$PIDS $!"
	wait_for "$T/$fid.fake" '^\*port ' 10 || return 1
	FPORT=$(sed -n 's/^\*port //p' "$T/$fid.fake")
}

# done_with CID FID: client CID's input ends (quit); both processes end
# (FID "none": no fake server).
done_with() {
	cli_eof "$1"
	cli_wait "$1" 15 || fail "${1}_quits" "client $1 still runs 15 s after end of input"
	eval "fp=\${FPID_$2:-}"
	i=0
	while [ -n "$fp" ] && alive "$fp" && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

# tokline HOSTPORT: alice's line for HOSTPORT in the tokens file.
tokline() { grep "^$1 " "$ST/tokens" 2>/dev/null; }

# got_line FID LINE: the fake server received exactly LINE (it may print
# it a moment after the client acted on the lines sent before it).
got_line() { wait_for "$T/$1.fake" "^< $2\$" 5; }

# --- 1: the first login (password_file) stores the token, 0600 ---
need fake1 fake f1 'IM 1 fake' 'OK alice' "TOKEN $T1" "TOKEN $(tok 99)"
P1=$FPORT
printf 'alice-pw\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
rconf a1 "$P1" "user = alice" "password_file = $T/alice.pw"
cli_start a1 3
want resume_first_login_ready a1 '^ready alice$' 20
FKEY=$(sed -n "s/^127.0.0.1:$P1 //p" "$ST/known_servers")
if got_line f1 "LOGIN alice alice-pw" && ! grep -q '^< RESUME' "$T/f1.fake"; then pass resume_first_login_uses_password; else
	fail resume_first_login_uses_password "$(grep '^< ' "$T/f1.fake" | head -n 3 | tr '\n' '|')"; fi
if [ -n "$FKEY" ] && [ "$(tokline "127.0.0.1:$P1")" = "127.0.0.1:$P1 $FKEY alice $T1" ]; then
	pass resume_token_stored_per_server_and_key
else
	fail resume_token_stored_per_server_and_key "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|') key $FKEY"
fi
if grep -q 'a second TOKEN for this login; ignored' "$T/a1.err"; then pass resume_second_token_ignored; else
	fail resume_second_token_ignored "$(grep -i token "$T/a1.err" | tr '\n' '|')"; fi
mode=$(stat -c %a "$ST/tokens" 2>/dev/null)
if [ "$mode" = 600 ]; then pass resume_token_file_0600; else fail resume_token_file_0600 "mode '$mode'"; fi
if ! grep -rq 'alice-pw' "$ST" && ! grep -q "$T1" "$T/a1.err" "$T/a1.out"; then pass resume_no_password_on_disk_no_token_in_log; else
	fail resume_no_password_on_disk_no_token_in_log "$(grep -rl 'alice-pw' "$ST"; grep -l "$T1" "$T/a1.err" "$T/a1.out")"; fi
done_with a1 f1

# --- 2: the next start, with the password file gone, resumes with the
# token; the server's fresh token replaces it on disk (rotation) ---
rm -f "$T/alice.pw"
need fake2 fake f2 -p "$P1" 'IM 1 fake' 'OK alice' "TOKEN $T2"
rconf a2 "$P1" "user = alice" "password_file = $T/alice.pw"
cli_start a2 3
want resume_start_without_password a2 '^ready alice$' 20
if got_line f2 "RESUME alice $T1" && ! grep -q '^< LOGIN' "$T/f2.fake"; then pass resume_sent_at_start; else
	fail resume_sent_at_start "$(grep '^< ' "$T/f2.fake" | head -n 3 | tr '\n' '|')"; fi
if [ "$(tokline "127.0.0.1:$P1")" = "127.0.0.1:$P1 $FKEY alice $T2" ] && ! grep -q "$T1" "$ST/tokens"; then
	pass resume_token_rotated_on_disk
else
	fail resume_token_rotated_on_disk "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"
fi
if grep -q 'logging in with the stored resume token' "$T/a2.err"; then pass resume_says_why_no_password; else
	fail resume_says_why_no_password "$(tail -n 3 "$T/a2.err" | tr '\n' '|')"; fi
# the server goes away and comes back: this client has no password at
# all, so its reconnect can only be a RESUME with the rotated token
mark "$T/a2.out"
kill "$FPID_f2"
want resume_lost_reported a2 '^error lost the server connection' 10
T2B=$(tok 22)
need fake2b fake f2b -p "$P1" 'IM 1 fake' 'OK alice' "TOKEN $T2B"
want_new resume_reconnect_ready a2 '^ready alice$' 20
if got_line f2b "RESUME alice $T2" && [ "$(tokline "127.0.0.1:$P1")" = "127.0.0.1:$P1 $FKEY alice $T2B" ]; then
	pass resume_reconnect_uses_rotated_token
else
	fail resume_reconnect_uses_rotated_token "$(grep '^< ' "$T/f2b.fake" | head -n 2 | tr '\n' '|') tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|')"
fi
T2=$T2B
done_with a2 f2b

# --- 3: another server (another port) never sees the token ---
need fake3 fake f3 'IM 1 fake' 'OK alice' "TOKEN $T3"
P2=$FPORT
rconf a3 "$P2"
cli_start a3 3
tell a3 "login alice alice-pw"
want resume_other_server_ready a3 '^ready alice$' 20
if got_line f3 "LOGIN alice alice-pw" && ! grep -q '^< RESUME' "$T/f3.fake"; then pass resume_token_not_sent_to_other_port; else
	fail resume_token_not_sent_to_other_port "$(grep '^< ' "$T/f3.fake" | head -n 3 | tr '\n' '|')"; fi
if [ -n "$(tokline "127.0.0.1:$P1")" ] && [ "$(tokline "127.0.0.1:$P2")" = "127.0.0.1:$P2 $FKEY alice $T3" ]; then
	pass resume_one_token_per_server
else
	fail resume_one_token_per_server "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"
fi
done_with a3 f3

# --- 4: ERR 401 to RESUME: the token is dropped, LOGIN with the
# password on the same connection ---
need fake4 fake f4 -p "$P1" 'IM 1 fake' 'ERR 401 bad name or password' 'OK alice' "TOKEN $T4"
printf 'alice-pw\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
rconf a4 "$P1" "user = alice" "password_file = $T/alice.pw"
cli_start a4 3
want resume_fallback_ready a4 '^ready alice$' 20
order=$(sed -n 's/^< \(RESUME\|LOGIN\) .*/\1/p' "$T/f4.fake" | tr '\n' ' ')
if [ "$order" = "RESUME LOGIN " ] && got_line f4 "RESUME alice $T2" && got_line f4 "LOGIN alice alice-pw"; then
	pass resume_refused_falls_back_to_password
else
	fail resume_refused_falls_back_to_password "$(grep '^< ' "$T/f4.fake" | head -n 3 | tr '\n' '|')"
fi
if [ "$(tokline "127.0.0.1:$P1")" = "127.0.0.1:$P1 $FKEY alice $T4" ]; then pass resume_fallback_stores_new_token; else
	fail resume_fallback_stores_new_token "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"; fi
done_with a4 f4

# --- 4b: a password given with "login NAME PASSWORD" is checked as asked
# (LOGIN, even with a token stored); the token is kept for reconnects ---
need fake4b fake f4b -p "$P1" 'IM 1 fake' 'ERR 401 bad name or password'
rconf a4b "$P1"
cli_start a4b 3
tell a4b "login alice typo-pw"
want resume_typed_password_checked a4b '^error login failed: 401 bad name or password$' 20
if got_line f4b "LOGIN alice typo-pw" && ! grep -q '^< RESUME' "$T/f4b.fake" &&
	[ "$(tokline "127.0.0.1:$P1")" = "127.0.0.1:$P1 $FKEY alice $T4" ]; then
	pass resume_typed_password_not_skipped
else
	fail resume_typed_password_not_skipped "$(grep '^< ' "$T/f4b.fake" | head -n 2 | tr '\n' '|') tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|')"
fi
done_with a4b f4b

# --- 5: ERR 401 and no password (batch "login alice" alone): a clear
# error that the password is needed, the token forgotten ---
need fake5 fake f5 -p "$P1" 'IM 1 fake' 'ERR 401 bad name or password'
rconf a5 "$P1"
cli_start a5 3
tell a5 "login alice"
want resume_refused_needs_password a5 '^error the server refused the stored resume token .*log in with the password' 20
if got_line f5 "RESUME alice $T4" && [ "$(grep -v '^< VERSION 1.1$' "$T/f5.fake" | grep -c '^< ')" = 1 ]; then pass resume_batch_login_without_password; else
	fail resume_batch_login_without_password "$(grep '^< ' "$T/f5.fake" | head -n 3 | tr '\n' '|')"; fi
if [ -z "$(tokline "127.0.0.1:$P1")" ] && [ -n "$(tokline "127.0.0.1:$P2")" ]; then pass resume_refused_token_forgotten; else
	fail resume_refused_token_forgotten "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"; fi
done_with a5 f5
# token and password both refused (im passwd revokes the tokens, and the
# password changed): a clear error that says so
printf '127.0.0.1:%s %s alice %s\n' "$P1" "$FKEY" "$(tok 5)" >>"$ST/tokens"
need fake5c fake f5c -p "$P1" 'IM 1 fake' 'ERR 401 bad name or password' 'ERR 401 bad name or password'
printf 'old-pw\n' >"$T/old.pw"
chmod 600 "$T/old.pw"
rconf a5c "$P1" "user = alice" "password_file = $T/old.pw"
cli_start a5c 3
want resume_both_refused_clear_error a5c '^error login failed: 401 bad name or password \(the stored resume token was refused too: was the password changed\? log in with the new one\)$' 20
if got_line f5c "RESUME alice $(tok 5)" && got_line f5c "LOGIN alice old-pw" && [ -z "$(tokline "127.0.0.1:$P1")" ]; then
	pass resume_both_refused_token_forgotten
else
	fail resume_both_refused_token_forgotten "$(grep '^< ' "$T/f5c.fake" | head -n 2 | tr '\n' '|') tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|')"
fi
done_with a5c f5c
# and with no token at all, "login alice" is the old "no password" error
rconf a5b "$P1"
cli_start a5b 3
tell a5b "login alice"
want resume_no_token_no_password a5b '^error no password' 10
done_with a5b f5

# --- 6: the same host:port with another key (server_key changed on
# purpose) is another server: the token is not shown to it ---
mkdir -p "$T/k2"
printf '[client]\nstate_dir = %s/k2\n' "$T" >"$T/k2.conf"
K2=$("$IM" client -c "$T/k2.conf" --fingerprint 2>/dev/null)
need fake6 fake f6 -p "$P2" -k "$T/k2/id" 'IM 1 fake' 'OK alice' "TOKEN $T6"
rconf a6 "$P2" "server_key = $K2" "user = alice" "password_file = $T/alice.pw"
cli_start a6 3
want resume_other_key_ready a6 '^ready alice$' 20
if got_line f6 "LOGIN alice alice-pw" && ! grep -q '^< RESUME' "$T/f6.fake" &&
	grep -q 'issued by a server with another key' "$T/a6.err"; then
	pass resume_token_not_sent_to_other_key
else
	fail resume_token_not_sent_to_other_key "$(grep '^< ' "$T/f6.fake" | head -n 3 | tr '\n' '|')"
fi
if [ "$(tokline "127.0.0.1:$P2")" = "127.0.0.1:$P2 $K2 alice $T6" ]; then pass resume_token_bound_to_new_key; else
	fail resume_token_bound_to_new_key "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"; fi
done_with a6 f6

# --- 7: resume_tokens = no: the stored token is neither used nor replaced ---
need fake7 fake f7 -p "$P2" -k "$T/k2/id" 'IM 1 fake' 'OK alice' "TOKEN $T7"
rconf a7 "$P2" "server_key = $K2" "resume_tokens = no" "user = alice" "password_file = $T/alice.pw"
cli_start a7 3
want resume_off_ready a7 '^ready alice$' 20
if got_line f7 "LOGIN alice alice-pw" && ! grep -q '^< RESUME' "$T/f7.fake" &&
	[ "$(tokline "127.0.0.1:$P2")" = "127.0.0.1:$P2 $K2 alice $T6" ]; then
	pass resume_tokens_off_ignored
else
	fail resume_tokens_off_ignored "$(grep '^< ' "$T/f7.fake" | head -n 2 | tr '\n' '|') tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|')"
fi
done_with a7 f7

# --- 8: KICKED (another login holds the account) forgets the token ---
need fake8 fake f8 -p "$P2" -k "$T/k2/id" 'IM 1 fake' 'OK alice' "TOKEN $T8" 'KICKED logged in elsewhere'
rconf a8 "$P2" "server_key = $K2" "user = alice" "password_file = $T/alice.pw"
cli_start a8 3
want resume_kicked_reported a8 '^error kicked by the server' 20
if got_line f8 "RESUME alice $T6" && [ -z "$(tokline "127.0.0.1:$P2")" ] && ! grep -q "$T8" "$ST/tokens"; then
	pass resume_kicked_forgets_token
else
	fail resume_kicked_forgets_token "tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|')"
fi
cli_eof a8
cli_wait a8 10

# --- 9: a TOKEN before the login's OK, or a malformed one, is ignored ---
need fake9 fake f9 -p "$P1" 'IM 1 fake' "TOKEN $T9" 'OK alice' 'TOKEN not/a+token' 'TOKEN'
rconf a9 "$P1"
cli_start a9 3
tell a9 "login alice alice-pw"
want resume_bad_token_ready a9 '^ready alice$' 20
if [ -z "$(tokline "127.0.0.1:$P1")" ] && grep -q 'TOKEN before a login; ignored' "$T/a9.err" &&
	grep -q 'malformed TOKEN line; ignored' "$T/a9.err"; then
	pass resume_bad_tokens_ignored
else
	fail resume_bad_tokens_ignored "tokens: $(cat "$ST/tokens" 2>/dev/null | tr '\n' '|') log: $(grep -i token "$T/a9.err" | tr '\n' '|')"
fi
done_with a9 f9

# --- 10: interactively, a refused token asks for the password, which
# then logs in (the token came from the tokens file, as a set-up) ---
if command -v script >/dev/null 2>&1; then
	printf '127.0.0.1:%s %s alice %s\n' "$P1" "$FKEY" "$(tok 11)" >>"$ST/tokens"
	need fake10 fake f10 -p "$P1" 'IM 1 fake' 'ERR 401 bad name or password'
	rconf tty "$P1" "user = alice"
	rm -f "$T/tty.fifo"
	mkfifo "$T/tty.fifo"
	: >"$T/tty.out"
	script -qfec "\"$IM\" client --plain -c \"$T/tty.conf\" 2>>\"$T/tty.err\"" /dev/null <"$T/tty.fifo" >"$T/tty.out" 2>&1 \
		3>&- 4>&- 5>&- 6>&- &
	PIDS="$PIDS $!"
	exec 6>"$T/tty.fifo"
	if wait_for "$T/tty.out" 'refused the stored resume token' 20 && wait_for "$T/tty.out" 'password for alice \(nothing is shown' 5 &&
		got_line f10 "RESUME alice $(tok 11)"; then
		pass resume_refused_asks_password
	else
		fail resume_refused_asks_password "$(tr '\r\n' '||' <"$T/tty.out")"
	fi
	i=0
	while alive "$FPID_f10" && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	need fake11 fake f11 -p "$P1" 'IM 1 fake' 'OK alice' "TOKEN $(tok 12)"
	printf 'alice-pw\r' >&6
	if wait_for "$T/tty.out" 'logged in as alice' 20 && got_line f11 "LOGIN alice alice-pw"; then
		pass resume_asked_password_logs_in
	else
		fail resume_asked_password_logs_in "$(tr '\r\n' '||' <"$T/tty.out") $(grep '^< ' "$T/f11.fake" | head -n 2 | tr '\n' '|')"
	fi
	printf '/quit\r' >&6
	wait_for "$T/tty.out" '\* bye' 10
	exec 6>&-
else
	skip resume_refused_asks_password "script(1) is not installed (package bsdutils)"
fi

# --- 11: jittered backoff against a dead port: each delay within
# [100 ms, the cap of its retry], the caps doubling 200 -> 1600 ms ---
need deadport fake dead
DEAD=$FPORT
kill "$FPID_dead" 2>/dev/null
i=0
while alive "$FPID_dead" && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
rconf b1 "$DEAD" "reconnect_base_ms = 200" "reconnect_max_ms = 1600"
cli_start b1 3
tell b1 "login alice alice-pw"
if wait_for "$T/b1.err" 'retrying in [0-9]+ ms \(retry 8,' 40; then
	bad="" ns=""
	for k in 1 2 3 4 5 6 7 8; do
		line=$(grep -o "retrying in [0-9]* ms (retry $k, delay cap [0-9]* ms)" "$T/b1.err" | head -n 1)
		n=$(printf '%s' "$line" | sed 's/retrying in \([0-9]*\) ms.*/\1/')
		cap=$(printf '%s' "$line" | sed 's/.*delay cap \([0-9]*\) ms.*/\1/')
		want_cap=$((200 << (k - 1)))
		[ $want_cap -gt 1600 ] && want_cap=1600
		ns="$ns $n"
		if [ -z "$n" ] || [ "$cap" != "$want_cap" ] || [ "$n" -lt 100 ] || [ "$n" -gt "$cap" ]; then
			bad="$bad retry$k:'$line'(cap want $want_cap)"
		fi
	done
	if [ -z "$bad" ]; then pass resume_backoff_within_bounds; else fail resume_backoff_within_bounds "$bad"; fi
	if [ "$(printf '%s\n' $ns | sort -u | wc -l)" -gt 1 ]; then pass resume_backoff_jittered; else
		fail resume_backoff_jittered "all delays equal:$ns"; fi
else
	fail resume_backoff_within_bounds "no 8 retries in 40 s: $(grep -c 'retrying in' "$T/b1.err") lines"
fi
cli_eof b1
cli_wait b1 10
# the default: the first retry waits at most 1 s
rconf b2 "$DEAD"
cli_start b2 3
tell b2 "login alice alice-pw"
if wait_for "$T/b2.err" 'retrying in [0-9]+ ms' 15; then
	n=$(sed -n 's/.*retrying in \([0-9]*\) ms (retry 1, delay cap 1000 ms).*/\1/p' "$T/b2.err" | head -n 1)
	if [ -n "$n" ] && [ "$n" -ge 100 ] && [ "$n" -le 1000 ]; then pass resume_backoff_default_first; else
		fail resume_backoff_default_first "$(grep -m 1 'retrying in' "$T/b2.err")"; fi
else
	fail resume_backoff_default_first "no retry line"
fi
cli_eof b2
cli_wait b2 10

# ===== part 3: against the real server =====
# (the server side is another branch; once this tree has it, every check
# here must pass: config/im.conf documents allow_resume then)
srv_conf "$T/s.conf"
if ! grep -q '^allow_resume' "$TOP/config/im.conf"; then
	skip resume_real_server "this tree's server has no resume tokens yet (no allow_resume in config/im.conf)"
elif ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&-; then
	fail resume_real_server_start "no readiness line: $(tail -n 3 "$T/s.log" | tr '\n' '|')"
else
	PS=$PORT
	ST=$T/ralice
	RT="127.0.0.1:$PS"
	# rtok: ralice's token at the real server (the 4th field of its line).
	rtok() { grep "^$RT " "$ST/tokens" 2>/dev/null | cut -d ' ' -f 4; }

	# --- a sign-up stores the token; the password never reaches the disk ---
	rconf r1 "$PS"
	cli_start r1 3
	tell r1 "signup ralice ralice-pw1"
	want resume_real_signup_ready r1 '^ready ralice$' 20
	R1=$(rtok)
	if [ -n "$R1" ] && [ "$(stat -c %a "$ST/tokens")" = 600 ] && ! grep -rq 'ralice-pw1' "$ST"; then
		pass resume_real_token_stored
	else
		fail resume_real_token_stored "tokens: $(cat "$ST/tokens" 2>&1 | tr '\n' '|')"
	fi
	done_with r1 none

	# --- the next start has no password at all: RESUME, and the token rotates ---
	mark "$T/s.log"
	rconf r2 "$PS" "user = ralice"
	cli_start r2 3
	want resume_real_start_without_password r2 '^ready ralice$' 20
	R2=$(rtok)
	if [ -n "$R2" ] && [ "$R2" != "$R1" ]; then pass resume_real_token_rotated; else
		fail resume_real_token_rotated "before $R1 after $R2"; fi
	if grep -q 'resumed as ralice without the password' "$T/r2.err"; then pass resume_real_resumed; else
		fail resume_real_resumed "$(grep -i 'resum\|token' "$T/r2.err" | tr '\n' '|')"; fi

	# --- the server restarts: the client (which has no password) comes
	# back with its rotated token ---
	mark "$T/r2.out"
	srv_stop resume_real_server_stops
	need real_restart srv_start "$T/s.conf" "$T/s2.log" -p "$PS" 3>&- 4>&- 5>&- 6>&-
	want_new resume_real_back_after_restart r2 '^ready ralice$' 40
	R3=$(rtok)
	if [ -n "$R3" ] && [ "$R3" != "$R2" ] && [ "$(grep -c 'resumed as ralice' "$T/r2.err")" -ge 2 ]; then
		pass resume_real_restart_resumed_rotated
	else
		fail resume_real_restart_resumed_rotated "tokens $R2 -> $R3; $(grep -c 'resumed as' "$T/r2.err") resumes"
	fi

	# --- a used token is void: RESUME with the old one is refused ---
	mark "$T/s2.log"
	printf 'RESUME ralice %s\n!sleep 3000\n!quit\n' "$R1" | "$IMTC" -w 10 127.0.0.1 "$PS" >"$T/old.out" 2>&1
	if grep -q '^ERR 401' "$T/old.out"; then pass resume_real_old_token_void; else
		fail resume_real_old_token_void "$(tr '\n' '|' <"$T/old.out")"; fi
	done_with r2 none

	# --- im passwd revokes the token: a client with the old password gets
	# a clear error; the new password logs in and gets a new token ---
	printf 'ralice-pw2\n' | "$IM" passwd -c "$T/s.conf" ralice >"$T/passwd.out" 2>&1
	setup real_passwd test $? -eq 0
	printf 'ralice-pw1\n' >"$T/ralice.pw"
	chmod 600 "$T/ralice.pw"
	rconf r3 "$PS" "user = ralice" "password_file = $T/ralice.pw"
	cli_start r3 3
	want resume_real_revoked_clear_error r3 '^error login failed: 401 .*the stored resume token was refused too: was the password changed' 20
	if [ -z "$(rtok)" ]; then pass resume_real_revoked_token_forgotten; else
		fail resume_real_revoked_token_forgotten "tokens: $(cat "$ST/tokens" | tr '\n' '|')"; fi
	done_with r3 none
	rconf r4 "$PS"
	cli_start r4 3
	tell r4 "login ralice ralice-pw2"
	want resume_real_new_password_ready r4 '^ready ralice$' 20
	if [ -n "$(rtok)" ]; then pass resume_real_new_token_after_password; else
		fail resume_real_new_token_after_password "no token"; fi
	done_with r4 none

	# --- token only, revoked (im passwd again): batch says the password is needed ---
	printf 'ralice-pw3\n' | "$IM" passwd -c "$T/s.conf" ralice >"$T/passwd.out" 2>&1
	rconf r5 "$PS" "user = ralice"
	cli_start r5 3
	want resume_real_revoked_needs_password r5 '^error the server refused the stored resume token' 20
	done_with r5 none

	# --- a stolen token used while the client is online: the thief's
	# RESUME replaces the session (the duplicate-login rule); the client
	# is told, and forgets the token (voided by that RESUME anyway) ---
	rconf r6 "$PS"
	cli_start r6 3
	tell r6 "login ralice ralice-pw3"
	want resume_real_relogin_ready r6 '^ready ralice$' 20
	R6=$(rtok)
	mark "$T/r6.out"
	printf 'RESUME ralice %s\n!sleep 3000\n!quit\n' "$R6" | "$IMTC" -w 10 127.0.0.1 "$PS" >"$T/thief.out" 2>&1
	if [ -n "$R6" ] && grep -q '^OK ralice$' "$T/thief.out"; then pass resume_real_stolen_token_logs_in; else
		fail resume_real_stolen_token_logs_in "token '$R6': $(tr '\n' '|' <"$T/thief.out")"; fi
	want_new resume_real_stolen_kicks_client r6 '^error kicked by the server' 10
	if [ -z "$(rtok)" ]; then pass resume_real_kicked_token_forgotten; else
		fail resume_real_kicked_token_forgotten "tokens: $(cat "$ST/tokens" | tr '\n' '|')"; fi
	done_with r6 none
	srv_stop resume_real_server_stops_2
fi

no_crash resume_no_crash "$T"/*.err "$T"/s*.log
