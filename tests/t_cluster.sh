#!/bin/sh
# t_cluster: the server's link to Redis in cluster mode ([cluster] redis =):
# the [cluster] keys' checks, the node record (P node:<id>, its TTL, its
# refresh, its removal on SIGTERM), Redis dying and coming back while the
# node serves its users, AUTH (right, wrong, missing password), and a
# config without [cluster] never connecting to Redis. Against a private
# redis-server on a free loopback port (skipped without one).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_redis.sh"

# --- the [cluster] keys' checks (no Redis needed) ---
C=$T/bad.conf
bad_cluster() {
	srv_conf "$C" "[cluster]" "$2"
	expect_exit "cluster_config_$1" 2 "$3" "$IM" server -c "$C" -n
}
bad_cluster redis_no_port "redis = 127.0.0.1" "bad\\.conf:[0-9]+: bad value for redis in \\[cluster\\]: .*HOST:PORT"
bad_cluster redis_port_0 "redis = 127.0.0.1:0" "bad value for redis in \\[cluster\\]"
bad_cluster redis_v6_unbracketed "redis = ::1:6379" "bad value for redis in \\[cluster\\].*brackets"
bad_cluster redis_bad_host "redis = a/b:6379" "bad value for redis in \\[cluster\\]: 'a/b' is not a host name or IPv4 address"
bad_cluster redis_bad_v6 "redis = [1.2.3.4]:6379" "bad value for redis in \\[cluster\\]: '1.2.3.4' is not an IPv6 address"
bad_cluster node_id_chars "node_id = bad id!" "bad value for node_id in \\[cluster\\].*A-Z a-z 0-9"
bad_cluster node_id_long "node_id = $(printf '%065d' 0)" "bad value for node_id in \\[cluster\\].*longer than 64"
bad_cluster record_ttl_low "record_ttl = 2" "bad value for record_ttl in \\[cluster\\].*3\\.\\.3600"
bad_cluster key_prefix_glob "key_prefix = im*" "bad value for key_prefix in \\[cluster\\]"
bad_cluster unknown_key "redis_host = x" "unknown key redis_host in \\[cluster\\]"
srv_conf "$C" "[cluster]" "redis = 127.0.0.1:1" "redis_password_file = $T/nope"
expect_exit cluster_config_password_file_missing 2 "redis_password_file $T/nope: cannot open" "$IM" server -c "$C" -n
printf '%0300d\n' 0 >"$T/long.pw"
srv_conf "$C" "[cluster]" "redis = 127.0.0.1:1" "redis_password_file = $T/long.pw"
expect_exit cluster_config_password_too_long 2 "redis_password_file $T/long.pw: the password is too long" \
	"$IM" server -c "$C" -n
srv_conf "$C" "[cluster]" "redis = [::1]:6390" "node_id = a.b:c-d_1" "record_ttl = 3600" "key_prefix = x/"
if "$IM" --version | grep -q '^cluster mode: not built in'; then
	expect_exit cluster_config_refused_without_cluster_build 2 'this im was built without cluster mode' \
		"$IM" server -c "$C" -n
	skip cluster_redis "$IM was built without cluster mode (CLUSTER=no)"
	exit 0
fi
expect_exit cluster_config_good_values 0 'configuration ok' "$IM" server -c "$C" -n

if ! have_redis; then
	skip cluster_redis "redis-server or redis-cli is not installed (./build.sh deps installs them)"
	exit 0
fi
need redis_start redis_start

# --- without [cluster]: no connection to Redis at all ---
conns() { rcli INFO stats | sed -n 's/^total_connections_received:\([0-9]*\).*/\1/p'; }
before=$(conns)
srv_conf "$T/plain.conf"
need plain_server srv_start "$T/plain.conf" "$T/plain.log"
setup plain_signup signup p1 carol 4000 "$KEYC" || :
mark "$T/plain.log"
kill -TERM "$SRV_PID"
wait_new "$T/plain.log" 'stopped' 10 || :
after=$(conns)
# the second count is one connection itself (redis-cli), nothing more
if [ -n "$before" ] && [ "$after" = $((before + 1)) ] && ! grep -q 'cluster:' "$T/plain.log"; then
	pass cluster_off_never_connects
else
	fail cluster_off_never_connects "Redis connections $before -> $after (1 expected: redis-cli's); log: $(grep cluster: "$T/plain.log" | head -n 2 | tr '\n' '|')"
fi

# --- a node: its record, its TTL, its refresh ---
TTL=3
N=$T/n1.conf
srv_conf "$N" "[cluster]" "redis = 127.0.0.1:$REDIS_PORT" "node_id = n1" "record_ttl = $TTL"
need node_start srv_start "$N" "$T/n1.log"
NODE_PID=$SRV_PID
if wait_for "$T/n1.log" "cluster: node n1, redis 127\\.0\\.0\\.1:$REDIS_PORT" 5 &&
	wait_for "$T/n1.log" "cluster: connected to redis 127\\.0\\.0\\.1:$REDIS_PORT" 20; then
	pass cluster_log_node_and_connected
else
	fail cluster_log_node_and_connected "$(grep cluster "$T/n1.log" | head -n 3 | tr '\n' '|')"
fi
# wait_key KEY [SECONDS]: until KEY exists
wait_key() {
	_wk=0
	while [ $_wk -lt $((${2:-10} * 10)) ]; do
		[ "$(rcli EXISTS "$1")" = 1 ] && return 0
		sleep 0.1
		_wk=$((_wk + 1))
	done
	return 1
}
# no_key KEY [SECONDS]: until KEY is gone
no_key() {
	_wk=0
	while [ $_wk -lt $((${2:-10} * 10)) ]; do
		[ "$(rcli EXISTS "$1")" = 0 ] && return 0
		sleep 0.1
		_wk=$((_wk + 1))
	done
	return 1
}
if wait_key im:node:n1 10; then
	val=$(rcli GET im:node:n1)
	ttl=$(rcli TTL im:node:n1)
	if echo "$val" | grep -Eq "^[0-9]{10} 127\\.0\\.0\\.1:$PORT\$" && [ "$ttl" -ge 1 ] && [ "$ttl" -le $TTL ]; then
		pass cluster_node_record_with_ttl
	else
		fail cluster_node_record_with_ttl "im:node:n1 = '$val', TTL $ttl (1..$TTL expected)"
	fi
else
	fail cluster_node_record_with_ttl "im:node:n1 never appeared"
fi
# past two TTLs the record is there only if it was refreshed; each read
# shows a TTL within record_ttl
ok=1
for i in 1 2 3 4 5 6 7 8; do
	sleep 1
	ttl=$(rcli TTL im:node:n1)
	[ "$ttl" -ge 1 ] 2>/dev/null && [ "$ttl" -le $TTL ] || ok=0
done
if [ $ok = 1 ]; then pass cluster_node_record_refreshed; else
	fail cluster_node_record_refreshed "TTL of im:node:n1 left 1..$TTL (last: $ttl)"; fi

# --- Redis dies: the node says so once and serves its users ---
PORT1=$PORT
need node_signup signup a1 alice 4001 "$KEYA"
mark "$T/n1.log"
redis_kill KILL
if wait_new "$T/n1.log" "cluster: lost redis 127\\.0\\.0\\.1:$REDIS_PORT \\(.*\\); serving local users only" 15; then
	pass cluster_redis_lost_logged
else
	fail cluster_redis_lost_logged "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"
fi
if login a2 alice 4002 "$KEYA"; then pass cluster_login_while_redis_down; else
	fail cluster_login_while_redis_down "$(tail -n 3 "$T/a2.out" | tr '\n' '|')"; fi
sleep 3 # a few reconnect attempts fail meanwhile: logged once, not each
if [ "$(new_lines "$T/n1.log" | grep -c 'cluster: lost redis')" = 1 ] &&
	! new_lines "$T/n1.log" | grep -q 'cluster: cannot reach'; then
	pass cluster_redis_lost_logged_once
else
	fail cluster_redis_lost_logged_once "$(new_lines "$T/n1.log" | grep cluster | tr '\n' '|')"
fi

# --- Redis is back (empty: no persistence): the node is back in it ---
mark "$T/n1.log"
need redis_restart redis_start
if wait_new "$T/n1.log" "cluster: redis 127\\.0\\.0\\.1:$REDIS_PORT is back" 45; then
	pass cluster_redis_back_logged
else
	fail cluster_redis_back_logged "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"
fi
if wait_key im:node:n1 10; then pass cluster_node_record_after_return; else
	fail cluster_node_record_after_return "im:node:n1 not back"; fi
PORT=$PORT1
# The accounts live in Redis (t_cluster_accounts.sh), and this one came back
# empty (no persistence): alice is gone with it; a new sign-up shows that
# the node uses Redis again.
if signup a3 alice2 4003 "$KEYA"; then pass cluster_signup_after_return; else
	fail cluster_signup_after_return "$(tail -n 3 "$T/a3.out" | tr '\n' '|')"; fi

# --- Redis hangs (SIGSTOP: the link stays open, nothing answers) ---
mark "$T/n1.log"
kill -STOP "$REDIS_PID"
if wait_new "$T/n1.log" "cluster: lost redis 127\\.0\\.0\\.1:$REDIS_PORT \\(no answer for 10 s\\)" 30; then
	pass cluster_redis_hung_is_lost
else
	fail cluster_redis_hung_is_lost "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"
fi
if login a4 alice 4004 "$KEYA"; then pass cluster_login_while_redis_hung; else
	fail cluster_login_while_redis_hung "$(tail -n 3 "$T/a4.out" | tr '\n' '|')"; fi
mark "$T/n1.log"
kill -CONT "$REDIS_PID"
if wait_new "$T/n1.log" "cluster: redis 127\\.0\\.0\\.1:$REDIS_PORT is back" 60; then
	pass cluster_redis_unhung_back
else
	fail cluster_redis_unhung_back "$(new_lines "$T/n1.log" | tail -n 3 | tr '\n' '|')"
fi

# --- a clean stop takes the node record away (and says DOWN) ---
rcli SUBSCRIBE im:events >"$T/events.out" 2>&1 &
SUB_PID=$!
PIDS="$PIDS $SUB_PID"
wait_for "$T/events.out" '^im:events$' 5 || :
SRV_PID=$NODE_PID
srv_stop cluster_node_sigterm_exit_0
if [ "$(rcli EXISTS im:node:n1)" = 0 ]; then pass cluster_node_record_gone_on_stop; else
	fail cluster_node_record_gone_on_stop "im:node:n1 still there, TTL $(rcli TTL im:node:n1)"; fi
if wait_for "$T/events.out" '^n1 DOWN -$' 5; then pass cluster_down_published; else
	fail cluster_down_published "$(tr '\n' '|' <"$T/events.out")"; fi
kill "$SUB_PID" 2>/dev/null
no_crash cluster_node_no_crash "$T/n1.log"

# --- the link module alone (build/tests/redistc): commands, a
# subscription, answers lost with the link, refusals while down, both
# links back after a restart ---
RTC=$TOP/build/tests/redistc
: >"$T/rtc.in"
"$RTC" -i "$T/rtc.in" -s im:test -w 120 "127.0.0.1:$REDIS_PORT" >"$T/rtc.out" 2>"$T/rtc.err" &
RTC_PID=$!
PIDS="$PIDS $RTC_PID"
if wait_for "$T/rtc.out" '^up$' 10 && wait_for "$T/rtc.out" '^subup$' 10; then pass redis_link_up; else
	fail redis_link_up "$(tr '\n' '|' <"$T/rtc.out")"; fi
printf 'SET k1 v1\nGET k1\nINCR k1\n' >>"$T/rtc.in"
if wait_for "$T/rtc.out" '^reply 3 error ' 10 && grep -q '^reply 1 status OK$' "$T/rtc.out" &&
	grep -q '^reply 2 str v1$' "$T/rtc.out"; then
	pass redis_link_commands_in_order
else
	fail redis_link_commands_in_order "$(tr '\n' '|' <"$T/rtc.out")"
fi
rcli PUBLISH im:test "hello there" >/dev/null
if wait_for "$T/rtc.out" '^msg hello there$' 10; then pass redis_link_subscription_message; else
	fail redis_link_subscription_message "$(tr '\n' '|' <"$T/rtc.out")"; fi
mark "$T/rtc.out"
printf 'BLPOP nothing 0\n' >>"$T/rtc.in"
sleep 0.5
redis_kill KILL
if wait_new "$T/rtc.out" '^reply 4 null$' 10 && wait_new "$T/rtc.out" '^down ' 10 && wait_new "$T/rtc.out" '^subdown$' 10; then
	pass redis_link_pending_answer_null_on_loss
else
	fail redis_link_pending_answer_null_on_loss "$(new_lines "$T/rtc.out" | tr '\n' '|')"
fi
printf 'GET k1\n' >>"$T/rtc.in"
if wait_new "$T/rtc.out" '^refused 5$' 10; then pass redis_link_refuses_while_down; else
	fail redis_link_refuses_while_down "$(new_lines "$T/rtc.out" | tr '\n' '|')"; fi
mark "$T/rtc.out"
need redis_restart2 redis_start
if wait_new "$T/rtc.out" '^up$' 40 && wait_new "$T/rtc.out" '^subup$' 40; then pass redis_link_back_after_restart; else
	fail redis_link_back_after_restart "$(new_lines "$T/rtc.out" | tr '\n' '|')"; fi
printf 'SET k2 v2\n' >>"$T/rtc.in"
rcli PUBLISH im:test "again" >/dev/null
if wait_new "$T/rtc.out" '^reply 6 status OK$' 10 && wait_new "$T/rtc.out" '^msg again$' 10; then
	pass redis_link_works_after_restart
else
	fail redis_link_works_after_restart "$(new_lines "$T/rtc.out" | tr '\n' '|')"
fi
printf 'quit\n' >>"$T/rtc.in"
i=0
while alive "$RTC_PID" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if alive "$RTC_PID"; then fail redis_link_quits "still running"; else pass redis_link_quits; fi
if [ "$(grep -c '^up$' "$T/rtc.out")" = 2 ] && [ "$(grep -c '^down ' "$T/rtc.out")" = 1 ]; then
	pass redis_link_state_once_per_transition
else
	fail redis_link_state_once_per_transition "$(grep -E '^(up|down)' "$T/rtc.out" | tr '\n' '|')"
fi
no_crash redis_link_no_crash "$T/rtc.err"

# --- AUTH: right, wrong, missing ---
redis_kill KILL
need redis_with_password redis_start --requirepass s3cret-pw
REDIS_AUTH="-a s3cret-pw"
printf 's3cret-pw\n' >"$T/redis.pw"
printf 'not-the-pw\n' >"$T/wrong.pw"
chmod 600 "$T/redis.pw"
chmod 644 "$T/wrong.pw"
srv_conf "$T/auth.conf" "[cluster]" "redis = 127.0.0.1:$REDIS_PORT" "node_id = good" \
	"redis_password_file = $T/redis.pw" "key_prefix = t2:"
need auth_start srv_start "$T/auth.conf" "$T/auth.log"
if wait_for "$T/auth.log" 'cluster: connected to redis' 20 && wait_key t2:node:good 10; then
	pass cluster_auth_password
else
	fail cluster_auth_password "$(grep cluster "$T/auth.log" | tr '\n' '|')"
fi
srv_stop cluster_auth_sigterm_exit_0
srv_conf "$T/wrong.conf" "[cluster]" "redis = 127.0.0.1:$REDIS_PORT" "node_id = bad" \
	"redis_password_file = $T/wrong.pw"
need wrong_start srv_start "$T/wrong.conf" "$T/wrong.log"
if wait_for "$T/wrong.log" "cluster: cannot reach redis 127\\.0\\.0\\.1:$REDIS_PORT \\(AUTH refused \\(check redis_password_file\\): .*(WRONGPASS|invalid)" 20; then
	pass cluster_auth_wrong_password_logged
else
	fail cluster_auth_wrong_password_logged "$(grep cluster "$T/wrong.log" | tr '\n' '|')"
fi
if grep -q "cluster: redis_password_file $T/wrong.pw can be read by others: chmod 600 it" "$T/wrong.log" &&
	! grep -q 'can be read by others' "$T/auth.log"; then
	pass cluster_password_file_mode_warned
else
	fail cluster_password_file_mode_warned "$(grep 'read by others' "$T/wrong.log" "$T/auth.log" | tr '\n' '|')"
fi
cl w1
if sync w1; then pass cluster_serves_without_redis; else
	fail cluster_serves_without_redis "no PONG: $(tail -n 3 "$T/w1.out" | tr '\n' '|')"; fi
srv_stop cluster_wrong_sigterm_exit_0
srv_conf "$T/nopw.conf" "[cluster]" "redis = 127.0.0.1:$REDIS_PORT" "node_id = nopw"
need nopw_start srv_start "$T/nopw.conf" "$T/nopw.log"
if wait_for "$T/nopw.log" "cluster: cannot reach redis .*no redis_password_file set.*NOAUTH" 20; then
	pass cluster_auth_missing_password_logged
else
	fail cluster_auth_missing_password_logged "$(grep cluster "$T/nopw.log" | tr '\n' '|')"
fi
srv_stop cluster_nopw_sigterm_exit_0
if [ "$(rcli EXISTS im:node:bad im:node:nopw t2:node:good)" = 0 ]; then
	pass cluster_no_record_without_auth
else
	fail cluster_no_record_without_auth "$(rcli KEYS '*' | tr '\n' ' ')"
fi
no_crash cluster_auth_no_crash "$T/auth.log" "$T/wrong.log" "$T/nopw.log"
# the blocking link of the admin tools
if "$RTC" -S -a s3cret-pw "127.0.0.1:$REDIS_PORT" PING | grep -q '^sync 0 status PONG$'; then
	pass redis_sync_auth
else
	fail redis_sync_auth "$("$RTC" -S -a s3cret-pw "127.0.0.1:$REDIS_PORT" PING 2>&1)"
fi
expect_exit redis_sync_wrong_password 1 'refused AUTH \(check redis_password_file\)' \
	"$RTC" -S -a wrong "127.0.0.1:$REDIS_PORT" PING
expect_exit redis_sync_no_password 1 'does not answer PING \(no redis_password_file set\): NOAUTH' "$RTC" -S "127.0.0.1:$REDIS_PORT" PING
redis_kill KILL

# --- Redis at an IPv6 address ([::1]:PORT) ---
REDIS_AUTH=""
if redis_start --bind '127.0.0.1 ::1' && "$RTC" -S "[::1]:$REDIS_PORT" PING | grep -q PONG; then
	# (and no node_id: the host name and the listening port stand in)
	srv_conf "$T/v6.conf" "[cluster]" "redis = [::1]:$REDIS_PORT"
	need v6_start srv_start "$T/v6.conf" "$T/v6.log"
	id=$(hostname | cut -c 1-58 | tr -c 'A-Za-z0-9_.:\n-' _):$PORT
	if wait_for "$T/v6.log" "cluster: connected to redis \\[::1\\]:$REDIS_PORT" 20 && wait_key "im:node:$id" 10; then
		pass cluster_redis_ipv6
	else
		fail cluster_redis_ipv6 "no im:node:$id: $(grep cluster: "$T/v6.log" | tr '\n' '|') keys: $(rcli KEYS '*' | tr '\n' ' ')"
	fi
	srv_stop cluster_v6_sigterm_exit_0
else
	skip cluster_redis_ipv6 "no redis-server on ::1 here (IPv6 loopback unavailable?)"
fi
redis_kill KILL
