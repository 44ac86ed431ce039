#!/bin/sh
# t_server_ops: running the server: -n and bad configs, session files and
# `im who`, stale files cleared at start, admin changes taking effect live
# (adduser, passwd, deluser kicks), SIGHUP, SIGTERM cleanup, pid_file, and
# the embedded default (./im-data, every address, port 5190).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

C=$T/s.conf
RUN=$T/data/run
srv_conf "$C" "pid_file = $T/s.pid"

# --- configuration checks ---
expect_exit ops_config_check_n 0 'configuration ok' "$IM" server -c "$C" -n
printf '[server]\nport = 0\nbogus_key = 1\n' >"$T/bad.conf"
expect_exit ops_bad_config_unknown_key 2 "bad\\.conf:3:.*bogus_key" "$IM" server -c "$T/bad.conf"
printf '[server]\n\nkeepalive_timeout = 1\n' >"$T/bad2.conf"
expect_exit ops_bad_config_bad_value 2 "bad2\\.conf:3:.*keepalive_timeout" "$IM" server -c "$T/bad2.conf"
expect_exit ops_bad_config_n_fails 2 "bad\\.conf:3:" "$IM" server -c "$T/bad.conf" -n
expect_exit ops_bad_listen_option_n_fails 2 "-l: .localhostx. is not an IP address" "$IM" server -c "$C" -l localhostx -n
expect_exit ops_missing_config 2 "nope\\.conf" "$IM" server -c "$T/nope.conf"
expect_exit ops_bad_argument 2 'im server' "$IM" server --bogus
expect_exit ops_help 0 'usage: im server' "$IM" server --help
expect_exit ops_fingerprint_before_key 1 'no server key' "$IM" server -c "$C" --fingerprint
if [ -e "$T/data/server.key" ] || [ -e "$T/data/server.crt" ]; then fail ops_n_creates_nothing "a key appeared"; else
	pass ops_n_creates_nothing; fi

# --- a restart clears stale session files ---
mkdir -p "$RUN"
printf 'name=ghost\nip=10.9.9.9\nport=1\n' >"$RUN/ghost"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi
if [ -e "$RUN/ghost" ]; then fail ops_start_clears_planted_file "ghost still there"; else
	pass ops_start_clears_planted_file; fi
if [ "$(cat "$T/s.pid" 2>/dev/null)" = "$SRV_PID" ]; then pass ops_pid_file; else
	fail ops_pid_file "pid_file holds '$(cat "$T/s.pid" 2>&1)', server is $SRV_PID"; fi
if [ "$(stat -c %a "$T/data/server.key")" = 600 ] && [ -s "$T/data/server.crt" ]; then
	pass ops_generated_key_0600
else
	fail ops_generated_key_0600 "$(ls -l "$T/data" | tr '\n' '|')"
fi

# --- session files: contents, im who, removal ---
t_before=$(date +%s)
need alice signup a alice 4001 "$KEYA"
say a "PEER 4001 $KEYA 10.1.2.3" "CONTACTS bob carol"
sync a
need bob signup b bob 4002 "$KEYB"
sync a
f=$RUN/alice
if [ -f "$f" ] && grep -qx 'name=alice' "$f" && grep -qx 'ip=127.0.0.1' "$f" && grep -qx 'port=4001' "$f" &&
	grep -qx "key=$KEYA" "$f" && grep -qx 'lan_ip=10.1.2.3' "$f" && grep -qx 'contacts=bob carol' "$f"; then
	pass ops_session_file_contents
else
	fail ops_session_file_contents "$(tr '\n' '|' <"$f" 2>&1)"
fi
login_t=$(sed -n 's/^login=//p' "$f" 2>/dev/null)
if [ -n "$login_t" ] && [ "$login_t" -ge $((t_before - 5)) ] && [ "$login_t" -le $(($(date +%s) + 5)) ]; then
	pass ops_session_file_login_time
else
	fail ops_session_file_login_time "login=$login_t, now $(date +%s)"
fi
if [ -f "$RUN/bob" ] && grep -qx 'contacts=' "$RUN/bob"; then pass ops_session_file_no_contacts; else
	fail ops_session_file_no_contacts "$(tr '\n' '|' <"$RUN/bob" 2>&1)"; fi
if ls -A "$RUN" | grep -q '^\.'; then fail ops_no_temp_files_left "$(ls -A "$RUN" | tr '\n' ' ')"; else
	pass ops_no_temp_files_left; fi
"$IM" who -c "$C" >"$T/who.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -Eq '^NAME +ADDRESS +PORT' "$T/who.out" &&
	grep -Eq '^alice +127\.0\.0\.1 +4001 ' "$T/who.out" && grep -Eq '^bob +127\.0\.0\.1 +4002 ' "$T/who.out" &&
	[ "$(wc -l <"$T/who.out")" -eq 3 ]; then
	pass ops_who_table
else
	fail ops_who_table "exit $rc: $(tr '\n' '|' <"$T/who.out")"
fi
say b "LOGOUT"
setup bob_logout seen b '^\*closed'
gone_file() {
	i=0
	while [ -e "$1" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ ! -e "$1" ]
}
if gone_file "$RUN/bob" && [ -e "$RUN/alice" ]; then pass ops_session_file_removed_at_logout; else
	fail ops_session_file_removed_at_logout "$(ls "$RUN" | tr '\n' ' ')"; fi
"$IM" who -c "$C" >"$T/who2.out" 2>&1
if grep -q '^alice ' "$T/who2.out" && ! grep -q '^bob ' "$T/who2.out"; then pass ops_who_after_logout; else
	fail ops_who_after_logout "$(tr '\n' '|' <"$T/who2.out")"; fi

# --- admin changes while the server runs ---
printf 'newbie-pw1\n' | "$IM" adduser -c "$C" newbie >"$T/add.out" 2>&1 ||
	fail ops_setup "adduser: $(cat "$T/add.out")"
cl n
say n "LOGIN newbie newbie-pw1"
expect ops_adduser_live n '^OK newbie$'
say n "PEER 4003 $KEYC" "CONTACTS alice"
say a "ADD newbie"
setup alice_sees_newbie seen a '^ONLINE newbie '
printf 'newbie-pw2\n' | "$IM" passwd -c "$C" newbie >"$T/pw.out" 2>&1 ||
	fail ops_setup "passwd: $(cat "$T/pw.out")"
cl n2
say n2 "LOGIN newbie newbie-pw1"
expect ops_passwd_live_old_fails n2 '^ERR 401 '
say n2 "LOGIN newbie newbie-pw2"
expect ops_passwd_live_new_works n2 '^OK newbie$'
expect ops_passwd_relogin_kicks_old n '^KICKED '
mark "$T/a.out"
say n2 "PEER 4003 $KEYC" "CONTACTS alice"
setup alice_sees_newbie_again seen_new a '^ONLINE newbie .* 4003 ' && sync a
setup newbie_session_file [ -e "$RUN/newbie" ]
mark "$T/a.out"
"$IM" deluser -c "$C" newbie >"$T/del.out" 2>&1 || fail ops_setup "deluser: $(cat "$T/del.out")"
expect ops_deluser_kicks_online_user n2 '^KICKED ' 5
expect ops_deluser_drops_connection n2 '^\*closed$'
expect_new ops_deluser_contact_sees_offline a '^OFFLINE newbie$'
if ! gone_file "$RUN/newbie"; then fail ops_deluser_session_file_removed "still there"; else
	pass ops_deluser_session_file_removed; fi
cl n3
say n3 "LOGIN newbie newbie-pw2"
expect ops_deluser_login_refused n3 '^ERR 401 '

# --- SIGHUP keeps running and reloads the key and certificate ---
old_fp=$("$IM" server -c "$C" --fingerprint)
need new_server_key openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/new.key" \
	-out "$T/new.crt" -days 2 -subj /CN=im 2>/dev/null
cat "$T/new.key" >"$T/data/server.key"
cat "$T/new.crt" >"$T/data/server.crt"
new_fp=$("$IM" server -c "$C" --fingerprint)
need new_key_differs [ -n "$new_fp" ] && [ "$old_fp" != "$new_fp" ]
mark "$T/s.log"
kill -HUP "$SRV_PID"
setup sighup_logged wait_new "$T/s.log" 'SIGHUP' 10
if alive "$SRV_PID" && sync a; then pass ops_sighup_keeps_running; else
	fail ops_sighup_keeps_running "$(tail -n 2 "$T/s.log" | tr '\n' '|')"; fi
cl h -k
expect ops_sighup_new_connections h '^IM 1 '
if seen h "^\*key $new_fp\$"; then pass ops_sighup_reloads_certificate; else
	fail ops_sighup_reloads_certificate "old $old_fp new $new_fp client $(grep '^\*key' "$T/h.out")"; fi

# --- SIGTERM: clean exit, session files gone, clients told ---
srv_stop ops_sigterm_exit_0
if [ -z "$(ls -A "$RUN")" ]; then pass ops_sigterm_removes_session_files; else
	fail ops_sigterm_removes_session_files "$(ls -A "$RUN" | tr '\n' ' ')"; fi
expect ops_sigterm_closes_clients a '^\*closed$' 3
if [ ! -e "$T/s.pid" ]; then pass ops_pid_file_removed; else fail ops_pid_file_removed "still there"; fi
no_crash ops_no_crash "$T/s.log"

# --- a crashed server's session files are cleared by the next start ---
srv_start "$C" "$T/s2.log" || fail ops_restart "no readiness line"
setup restart_login login a2 alice 4001 "$KEYA"
[ -e "$RUN/alice" ] || fail ops_restart "no session file"
kill -KILL "$SRV_PID"
wait "$SRV_PID" 2>/dev/null
printf 'name=ghost\n' >"$RUN/ghost"
if [ -e "$RUN/alice" ]; then
	srv_start "$C" "$T/s3.log" || fail ops_restart "no readiness line"
	if [ -z "$(ls -A "$RUN")" ]; then pass ops_restart_clears_stale_session_files; else
		fail ops_restart_clears_stale_session_files "$(ls -A "$RUN" | tr '\n' ' ')"; fi
	login a3 alice 4001 "$KEYA"
	expect ops_restart_login_works a3 '^OK alice$'
	srv_stop ops_sigterm_exit_0_restart
else
	fail ops_restart_clears_stale_session_files "no stale file left by the killed server"
fi
no_crash ops_no_crash_restart "$T/s2.log" "$T/s3.log"

# --- the embedded default: no config, a fresh directory ---
D=$T/fresh
mkdir -p "$D"
(cd "$D" && exec "$IM" server -p 0) 2>"$T/d.log" &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
if wait_for "$T/d.log" 'listening on [^ ]*:[0-9]+' 10; then
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/d.log" | head -n 1)
	if grep -Eq 'listening on \[::\]:[0-9]+' "$T/d.log" || grep -Eq 'listening on 0\.0\.0\.0:' "$T/d.log"; then
		pass ops_default_all_addresses
	else
		fail ops_default_all_addresses "$(grep listening "$T/d.log")"
	fi
	if [ -d "$D/im-data/run" ] && [ -s "$D/im-data/server.crt" ] &&
		[ "$(stat -c %a "$D/im-data/server.key" 2>/dev/null)" = 600 ]; then
		pass ops_default_data_dir
	else
		fail ops_default_data_dir "$(cd "$D" && find . | tr '\n' ' ')"
	fi
	if grep -q 'server key fingerprint [0-9a-f]\{64\}' "$T/d.log"; then pass ops_default_prints_fingerprint; else
		fail ops_default_prints_fingerprint "$(head -n 3 "$T/d.log" | tr '\n' '|')"; fi
	cl v4
	say v4 "SIGNUP dora dora-pw-12"
	expect ops_default_ipv4_and_signup v4 '^OK dora$' 10
	if ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1'; then
		: >"$T/v6.in"
		"$IMTC" -w 5 -i "$T/v6.in" ::1 "$PORT" >"$T/v6.out" 2>&1 &
		PIDS="$PIDS $!"
		say v6 "PING six"
		expect ops_default_ipv6 v6 '^PONG six$'
	else
		skip ops_default_ipv6 "no ::1 on lo"
	fi
	if [ -s "$D/im-data/users" ] && grep -q '^dora:' "$D/im-data/users"; then pass ops_default_users_file; else
		fail ops_default_users_file "no dora in ./im-data/users"; fi
	srv_stop ops_default_sigterm_exit_0
else
	fail ops_default_start "$(head -c 300 "$T/d.log" | tr '\n' ' ')"
fi
no_crash ops_default_no_crash "$T/d.log"

# --- the default port, only when 5190 is free here ---
if command -v ss >/dev/null 2>&1 && ! ss -ltnH 2>/dev/null | awk '{print $4}' | grep -q ':5190$'; then
	D2=$T/fresh2
	mkdir -p "$D2"
	(cd "$D2" && exec "$IM" server) 2>"$T/d2.log" &
	SRV_PID=$!
	PIDS="$PIDS $SRV_PID"
	if wait_for "$T/d2.log" 'listening on [^ ]*:5190' 10; then pass ops_default_port_5190; else
		fail ops_default_port_5190 "$(grep -E 'listening|cannot' "$T/d2.log" | tr '\n' '|')"; fi
	srv_stop ops_default_port_sigterm_exit_0
else
	skip ops_default_port_5190 "port 5190 is busy or ss is missing"
fi

# --- a second server must not disturb the first ---
C5=$T/s5.conf
srv_conf "$C5" "data_dir = $T/data5"
if srv_start "$C5" "$T/s5.log"; then
	first=$SRV_PID
	: >"$T/data5/run/planted"
	# same data_dir, another port: refused by the data_dir lock
	expect_exit ops_second_server_same_data_dir 1 'another im server is running on data_dir' \
		"$IM" server -c "$C5"
	# another data_dir, the same port: bind fails before anything is touched
	srv_conf "$T/s6.conf" "port = $PORT"
	sed -i "s|^data_dir = .*|data_dir = $T/data6|" "$T/s6.conf"
	expect_exit ops_second_server_busy_port 1 "cannot listen on 127.0.0.1 port $PORT" \
		"$IM" server -c "$T/s6.conf"
	if [ ! -e "$T/data6" ]; then pass ops_busy_port_leaves_no_data_dir; else
		fail ops_busy_port_leaves_no_data_dir "$(ls -A "$T/data6" | tr '\n' ' ')"; fi
	if [ -e "$T/data5/run/planted" ]; then pass ops_second_server_keeps_run_dir; else
		fail ops_second_server_keeps_run_dir "the live server's run dir was cleared"; fi
	if [ ! -e "$T/data6/server.key" ]; then pass ops_busy_port_makes_no_key; else
		fail ops_busy_port_makes_no_key "a key was generated before the bind failed"; fi
	SRV_PID=$first
	srv_stop ops_first_server_sigterm_exit_0
else
	fail ops_second_server_start "$(head -c 300 "$T/s5.log" | tr '\n' ' ')"
fi
no_crash ops_second_server_no_crash "$T/s5.log"

# --- user = : root binds, then the server runs as another user ---
# Its files live in a directory of their own under /tmp, 0755, so the
# dropped user can reach them wherever this checkout is (a 0700 home).
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && U=$(mktemp -d /tmp/im-ops-user.XXXXXX); then
	chmod 755 "$U"
	C7=$T/s7.conf
	srv_conf "$C7" "data_dir = $U/data7" "user = nobody" "pid_file = $U/im7.pid"
	if srv_start "$C7" "$T/s7.log"; then
		cl n1
		say n1 "SIGNUP nob nob-pass1" "PEER 4001 $KEYA" "PING n1"
		expect ops_user_drop_signup n1 '^OK nob$'
		expect ops_user_drop_serves n1 '^PONG n1$'
		if [ "$(stat -c %U "$U/data7/users" 2>/dev/null)" = nobody ] && [ -e "$U/data7/run/nob" ]; then
			pass ops_user_drop_files; else
			fail ops_user_drop_files "users file owner $(stat -c %U "$U/data7/users" 2>&1), run: $(ls "$U/data7/run")"; fi
		if [ "$(ps -o user= -p "$SRV_PID" | tr -d ' ')" = nobody ]; then pass ops_user_drop_runs_as_nobody; else
			fail ops_user_drop_runs_as_nobody "runs as $(ps -o user= -p "$SRV_PID")"; fi
		# SIGHUP as the dropped user must really swap the certificate:
		# a new connection is shown the new key
		old7=$(srv_key)
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$U/new7.key" \
			-out "$U/new7.crt" -days 2 -subj /CN=im 2>/dev/null
		# written over the old files, so they keep owner nobody and 0600
		cat "$U/new7.key" >"$U/data7/server.key"
		cat "$U/new7.crt" >"$U/data7/server.crt"
		new7=$("$IM" server -c "$C7" --fingerprint 2>/dev/null)
		mark "$T/s7.log"
		kill -HUP "$SRV_PID"
		wait_new "$T/s7.log" 'SIGHUP' 10 && sync n1
		if [ -n "$new7" ] && [ "$new7" != "$old7" ] && [ "$(srv_key)" = "$new7" ]; then
			pass ops_user_drop_sighup
		else
			fail ops_user_drop_sighup "key before $old7, in the file $new7, served $(srv_key); log: $(new_lines "$T/s7.log" | tr '\n' '|')"
		fi
		srv_stop ops_user_drop_sigterm_exit_0
	else
		fail ops_user_drop_start "$(head -c 300 "$T/s7.log" | tr '\n' ' ')"
	fi
	no_crash ops_user_drop_no_crash "$T/s7.log"
	rm -rf "$U"
else
	echo "SKIP ops_user_drop: needs root, a user nobody and mktemp"
fi
