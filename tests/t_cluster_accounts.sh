#!/bin/sh
# t_cluster_accounts: accounts, resume tokens and the failed-login limit
# shared by two nodes through Redis (issue 13 point 3): the admin modes
# against Redis (adduser, passwd, deluser, users, --export, --import), a
# sign-up won by one node only, a token of node 1 resumed on node 2 (once),
# failed logins spread over both nodes meeting one limit, and Redis going
# away and coming back. Against a private redis-server on a free loopback
# port, without persistence (skipped without one).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_redis.sh"

if ! have_redis; then
	skip cluster_accounts "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
need redis_start redis_start

LINE_RE='^[a-z0-9][a-z0-9_.-]{0,31}:pbkdf2-sha256:[1-9][0-9]*:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{43}=$'
TOKRE='^TOKEN [A-Za-z0-9_-]{43}$'

# node_conf FILE ID [LINE...]: a node of the cluster with its own data_dir.
node_conf() {
	_f=$1 _id=$2
	shift 2
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/%s\n' "$T" "$_id"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\n'
		printf 'max_failures_per_ip = 100\nmax_failures_per_name = 100\nmax_failures_per_name_total = 4\n'
		for l in "$@"; do printf '%s\n' "$l"; done
		printf '[cluster]\nredis = 127.0.0.1:%s\nnode_id = %s\nrecord_ttl = 5\n' "$REDIS_PORT" "$_id"
	} >"$_f"
}
N1=$T/n1.conf
N2=$T/n2.conf
node_conf "$N1" n1
node_conf "$N2" n2
if "$IM" server -c "$N1" -n 2>&1 | grep -q 'built without cluster mode'; then
	skip cluster_accounts "this im was built without cluster mode (CLUSTER=no)"
	exit 0
fi
# node 2 has a users file of its own: in cluster mode it is not used
printf '[server]\ndata_dir = %s/n2\npbkdf2_iterations = 1000\nmin_password_length = 4\n' "$T" >"$T/n2file.conf"
need n2_users_file sh -c "printf 'filer-pw\n' | '$IM' adduser -c '$T/n2file.conf' filer 2>/dev/null"
need node1 srv_start "$N1" "$T/n1.log"
P1=$PORT
PID1=$SRV_PID
need node2 srv_start "$N2" "$T/n2.log"
P2=$PORT
PID2=$SRV_PID
need node1_redis wait_for "$T/n1.log" "connected to redis" 20
need node2_redis wait_for "$T/n2.log" "connected to redis" 20

if grep -q "the accounts are in redis 127\.0\.0\.1:$REDIS_PORT; .*/n2/users (1 account) is not used ('im users --import" "$T/n2.log"; then
	pass users_file_not_used_logged
else
	fail users_file_not_used_logged "$(grep -i 'account' "$T/n2.log" | head -n 2 | tr '\n' '|')"
fi
PORT=$P2
cl uf
say uf "LOGIN filer filer-pw"
expect users_file_account_not_used uf '^ERR 401 '
# SIGHUP does not read the users file in cluster mode either
mark "$T/n2.log" "$T/uf.out"
kill -HUP "$PID2"
if wait_new "$T/n2.log" 'SIGHUP: reloading the certificate and the ticket keys \(the accounts are read from redis' 10; then
	pass sighup_cluster_logged
else
	fail sighup_cluster_logged "$(new_lines "$T/n2.log" | tail -n 2 | tr '\n' '|')"
fi
say uf "LOGIN filer filer-pw"
expect_new sighup_users_file_still_not_used uf '^ERR 401 '

# on N: the next clients talk to node N
on() { eval "PORT=\$P$1"; }
tok() { sed -n 's/^TOKEN //p' "$T/$1.out" | tail -n 1; }
adduser() { printf '%s\n' "$3" | "$IM" adduser -c "$1" "$2"; }

# --- adduser through node 1's config, login on node 2 ---
check adduser_redis adduser "$N1" alice alice-pw
if rcli GET im:user:alice | grep -Eq "$LINE_RE" && [ ! -e "$T/n1/users" ]; then
	pass adduser_record_in_redis_not_file
else
	fail adduser_record_in_redis_not_file "redis: $(rcli GET im:user:alice); users file: $(ls "$T/n1" 2>&1 | tr '\n' ' ')"
fi
expect_exit adduser_redis_exists 1 'user alice exists' adduser "$N2" alice other-pw
on 2
if login a2 alice; then pass adduser_node1_login_node2; else
	fail adduser_node1_login_node2 "$(tail -n 3 "$T/a2.out" | tr '\n' '|')"; fi
expect_exit users_lists_redis 0 '^alice$' "$IM" users -c "$N2"

# --- passwd through node 1 takes effect on node 2 ---
check passwd_redis sh -c "printf 'alice-new\\n' | '$IM' passwd -c '$N1' alice"
cl a3
say a3 "LOGIN alice alice-pw"
expect passwd_old_refused_node2 a3 '^ERR 401 '
mark "$T/a3.out"
say a3 "LOGIN alice alice-new"
expect_new passwd_new_works_node2 a3 '^OK alice$'
expect_exit passwd_redis_no_user 1 'no such user zed in redis 127\.0\.0\.1' \
	sh -c "printf 'zed-pw1\\n' | '$IM' passwd -c '$N1' zed"

# --- sign-up in cluster mode; its token resumed on the other node, once ---
on 1
cl c1
say c1 "SIGNUP carol carol-pw"
expect signup_node1 c1 '^OK carol$'
if rcli GET im:user:carol | grep -Eq "$LINE_RE"; then pass signup_record_in_redis; else
	fail signup_record_in_redis "$(rcli GET im:user:carol)"; fi
seen c1 "$TOKRE" 5 || :
TC1=$(tok c1)
say c1 "LOGOUT"
seen c1 '^BYE' 5 || :
if [ -n "$TC1" ] && [ "$(rcli EXISTS "im:token:$(printf '%s' "$TC1" | sha256sum | cut -c1-64)")" = 1 ]; then
	pass token_hash_in_redis
else
	fail token_hash_in_redis "token '$TC1', keys: $(rcli --scan --pattern 'im:token*' | tr '\n' ' ')"
fi
on 2
cl c2
say c2 "RESUME carol $TC1"
expect token_node1_resumes_node2 c2 '^OK carol$'
seen c2 "$TOKRE" 5 || :
TC2=$(tok c2)
on 1
cl c3
say c3 "RESUME carol $TC1"
expect token_used_once_across_nodes c3 '^ERR 401 '
# passwd voids every token (the list in Redis goes too)
check passwd_revokes_tokens_cmd sh -c "printf 'carol-new\\n' | '$IM' passwd -c '$N2' carol"
cl c4
say c4 "RESUME carol $TC2"
expect passwd_revokes_tokens c4 '^ERR 401 '
if [ "$(rcli EXISTS im:tokens:carol)" = 0 ]; then pass passwd_revokes_token_list; else
	fail passwd_revokes_token_list "im:tokens:carol: $(rcli LRANGE im:tokens:carol 0 -1 | tr '\n' ' ')"; fi

# --- the same name signed up on both nodes at once: exactly one wins ---
on 1
cl r1
on 2
cl r2
sync r1 && sync r2 || :
say r1 "SIGNUP dave dave-one"
say r2 "SIGNUP dave dave-two"
seen r1 '^(OK dave|ERR 409 )' 10 || :
seen r2 '^(OK dave|ERR 409 )' 10 || :
wins=$(cat "$T/r1.out" "$T/r2.out" | grep -c '^OK dave$')
taken=$(cat "$T/r1.out" "$T/r2.out" | grep -c '^ERR 409 ')
if [ "$wins" = 1 ] && [ "$taken" = 1 ]; then pass signup_race_one_wins; else
	fail signup_race_one_wins "OK: $wins, 409: $taken: $(cat "$T/r1.out" "$T/r2.out" | tr '\n' '|')"; fi

# --- deluser: gone from Redis, KICK published, logins refused ---
rcli SUBSCRIBE im:events >"$T/events.out" 2>&1 &
SUB_PID=$!
PIDS="$PIDS $SUB_PID"
need subscribed wait_for "$T/events.out" '^subscribe' 5
mark "$T/a2.out" "$T/a3.out"
check deluser_redis "$IM" deluser -c "$N1" alice
if [ "$(rcli EXISTS im:user:alice)" = 0 ]; then pass deluser_record_gone; else
	fail deluser_record_gone "$(rcli GET im:user:alice)"; fi
if wait_for "$T/events.out" '^admin KICK alice$' 5; then pass deluser_publishes_kick; else
	fail deluser_publishes_kick "$(tr '\n' '|' <"$T/events.out")"; fi
# The node holding the session ends it when it hears KICK: that is the
# channel handling of the session map (modules/cluster.c).
if [ -f "$TOP/modules/cluster.c" ]; then
	expect_new deluser_kicks_node2_session a3 '^KICKED account deleted'
else
	skip deluser_kicks_node2_session "the channel handling (modules/cluster.c) is not in this tree yet"
fi
on 2
cl a4
say a4 "LOGIN alice alice-new"
expect deluser_login_refused a4 '^ERR 401 '
expect_exit deluser_redis_no_user 1 'no such user alice in redis' "$IM" deluser -c "$N1" alice

# --- export / import ---
PL=$T/plain.conf
printf '[server]\ndata_dir = %s/plain\npbkdf2_iterations = 1000\nmin_password_length = 4\n' "$T" >"$PL"
for u in u1 u2 u3; do adduser "$PL" "$u" "$u-pw" 2>/dev/null; done
need plain_users test -s "$T/plain/users"
expect_exit export_file_mode 0 '^u1:pbkdf2' "$IM" users --export -c "$PL"
expect_exit import_adds 0 '3 accounts read, 3 added, 0 replaced, 0 left' \
	"$IM" users --import "$T/plain/users" -c "$N1"
"$IM" users --export -c "$N2" >"$T/export.out" 2>"$T/export.err"
grep '^u[123]:' "$T/export.out" >"$T/export.u"
if cmp -s "$T/export.u" "$T/plain/users"; then pass export_import_round_trip_identical; else
	fail export_import_round_trip_identical "$(diff "$T/plain/users" "$T/export.u" | head -n 4 | tr '\n' '|')"; fi
if all=$(grep -Evc "$LINE_RE" "$T/export.out"); [ "$all" = 0 ] && [ -s "$T/export.out" ]; then
	pass export_lines_are_records
else
	fail export_lines_are_records "$(head -n 3 "$T/export.out" | tr '\n' '|')"
fi
expect_exit import_refuses_existing 1 'u1 exists in redis .*left as it is \(--replace overwrites it\)' \
	"$IM" users --import "$T/plain/users" -c "$N1"
if grep -q '3 accounts read, 0 added, 0 replaced, 3 left as they were' "$T/ee.out"; then
	pass import_refuses_existing_counts
else
	fail import_refuses_existing_counts "$(tail -n 1 "$T/ee.out")"
fi
expect_exit import_replace 0 '3 accounts read, 0 added, 3 replaced, 0 left' \
	"$IM" users --import "$T/plain/users" --replace -c "$N1"
{
	grep '^u1:' "$T/plain/users" | sed 's/^u1:/newbie:/'
	echo 'not a record'
} >"$T/bad.users"
expect_exit import_bad_line_nothing 1 'bad\.users:2: not a users-file record; nothing imported' \
	"$IM" users --import "$T/bad.users" -c "$N1"
if [ "$(rcli EXISTS im:user:newbie)" = 0 ]; then pass import_bad_file_stores_nothing; else
	fail import_bad_file_stores_nothing "newbie was stored"; fi
expect_exit import_needs_cluster 1 'no \[cluster\] redis' "$IM" users --import "$T/plain/users" -c "$PL"
expect_exit import_usage_replace 2 '--replace goes with --import' "$IM" users --replace -c "$N1"
on 2
if login i2 u2; then pass imported_account_logs_in; else
	fail imported_account_logs_in "$(tail -n 3 "$T/i2.out" | tr '\n' '|')"; fi

# --- failed logins spread over both nodes meet one limit (4 here) ---
check adduser_bob adduser "$N1" bob bob-pw
on 1
cl f1
on 2
cl f2
# guess ID PASSWORD: a LOGIN as bob, answered ERR 401 (0) or not (1)
guess() {
	mark "$T/$1.out"
	say "$1" "LOGIN bob $2"
	seen_new "$1" '^ERR 401 ' 10
}
if guess f1 wrong1 && guess f2 wrong2 && guess f1 wrong3 && guess f2 wrong4; then
	pass limit_failures_answered
else
	fail limit_failures_answered "$(cat "$T/f1.out" "$T/f2.out" | tr '\n' '|')"
fi
# the count is written as the answer is sent: allow it a moment
i=0
while [ "$(rcli GET im:fail:bob)" != 4 ] && [ $i -lt 50 ]; do
	sleep 0.1
	i=$((i + 1))
done
n=$(rcli GET im:fail:bob)
ttl=$(rcli TTL im:fail:bob)
if [ "$n" = 4 ] && [ "$ttl" -gt 0 ] 2>/dev/null && [ "$ttl" -le 60 ]; then pass limit_count_in_redis; else
	fail limit_count_in_redis "count '$n', ttl '$ttl'"; fi
# node 1 saw 2 failures itself: its 429 comes from the shared count
mark "$T/f1.out"
say f1 "LOGIN bob bob-pw"
expect_new limit_spans_nodes f1 '^ERR 429 '

# --- Redis away: sign-up and admin changes refused, known accounts log in ---
mark "$T/n1.log" "$T/n2.log"
redis_kill KILL
if wait_new "$T/n1.log" "lost redis 127\\.0\\.0\\.1:$REDIS_PORT" 15; then pass redis_lost_logged; else
	fail redis_lost_logged "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"; fi
on 1
cl d1
say d1 "SIGNUP erin erin-pw"
expect redis_away_signup_refused d1 '^ERR 503 sign-up is unavailable: the accounts store is unreachable'
expect_exit redis_away_adduser_fails 1 "cannot reach redis 127\\.0\\.0\\.1:$REDIS_PORT" adduser "$N1" erin erin-pw
expect_exit redis_away_users_fails 1 "redis 127\\.0\\.0\\.1:$REDIS_PORT" "$IM" users -c "$N1"
# u2 logged in on node 2 before: node 2 still has its account
on 2
if login d2 u2; then pass redis_away_known_account_logs_in; else
	fail redis_away_known_account_logs_in "$(tail -n 3 "$T/d2.out" | tr '\n' '|')"; fi
# u3 never logged in on node 1: it cannot be checked there now
on 1
cl d3
say d3 "LOGIN u3 u3-pw"
expect redis_away_unknown_account_refused d3 '^ERR 503 cannot log in now: accounts unavailable'
cl d4
say d4 "RESUME u2 $TC2"
expect redis_away_resume_refused d4 '^ERR 503 cannot resume now'

# --- Redis back (empty: no persistence): sign-up works again ---
need redis_restart redis_start
if wait_new "$T/n1.log" "redis 127\\.0\\.0\\.1:$REDIS_PORT is back" 40; then pass redis_back_logged; else
	fail redis_back_logged "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"; fi
cl e1
say e1 "SIGNUP erin erin-pw"
expect redis_back_signup_works e1 '^OK erin$'
if rcli GET im:user:erin | grep -Eq "$LINE_RE"; then pass redis_back_signup_stored; else
	fail redis_back_signup_stored "$(rcli GET im:user:erin)"; fi

SRV_PID=$PID1
srv_stop node1_stops
SRV_PID=$PID2
srv_stop node2_stops

# --- the admin modes AUTH with redis_password_file ---
need redis_password sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT CONFIG SET requirepass adm1n-pw >/dev/null"
REDIS_AUTH="-a adm1n-pw"
printf 'adm1n-pw\n' >"$T/redis.pw"
chmod 600 "$T/redis.pw"
# [cluster] is node_conf's last section: a line added at the end is in it
{ cat "$N1"; echo "redis_password_file = $T/redis.pw"; } >"$T/pw.conf"
expect_exit admin_redis_password 0 '^erin$' "$IM" users -c "$T/pw.conf"
expect_exit admin_redis_no_password 1 "cannot reach redis 127\\.0\\.0\\.1:$REDIS_PORT.*(NOAUTH|auth)" "$IM" users -c "$N1"
printf '\n' >"$T/empty.pw"
{ cat "$N1"; echo "redis_password_file = $T/empty.pw"; } >"$T/empty.conf"
expect_exit admin_redis_password_empty 1 "redis_password_file $T/empty.pw: the first line is empty" \
	"$IM" users -c "$T/empty.conf"
no_crash cluster_accounts_no_crash "$T/n1.log" "$T/n2.log"
