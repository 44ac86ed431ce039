#!/bin/sh
# t_server_limits: connections that misbehave never stall anyone else:
# a handshake that never finishes and a login that never comes are dropped
# at login_timeout, a client that never reads while presence floods it is
# dropped at max_output_buffer, a silent client at keepalive_timeout (its
# contact sees OFFLINE), too many unauthenticated connections from one
# address are refused, and a slow password hash does not delay a PING.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

ms() { echo $(($(date +%s%N) / 1000000)); }

C=$T/s.conf
srv_conf "$C" "login_timeout = 2" "keepalive_timeout = 5" "max_output_buffer = 65536"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi

# --- keepalive: set up first, checked last, so its 5 s overlap the rest ---
need walt signup w walt 4001 "$KEYA"
need kate signup k kate 4002 "$KEYB"
setup kate_session_file [ -e "$T/data/run/kate" ]
say w "CONTACTS kate"
sync w
say k "CONTACTS walt"
need walt_sees_kate seen w '^ONLINE kate '
k_last=$(ms)
# walt keeps talking (the server sees a line every second); kate goes silent
(while :; do
	say w "PING alive"
	sleep 1
done) &
PIDS="$PIDS $!"

# --- a handshake that never finishes, and one never started ---
t0=$(ms)
cl raw -T
cl part -T
say part '!raw \x16\x03\x01\x00'
cl nolog
setup raw_connected seen raw '^\*connected'
setup part_connected seen part '^\*connected'
setup nolog_greeted seen nolog '^IM 1 '
need mia signup m mia 4003 "$KEYC"
t_ok=$(ms)
seen raw '^\*closed$' 6
t_raw=$(ms)
seen part '^\*closed$' 3
seen nolog '^\*closed$' 3
if grep -q '^\*closed' "$T/m.out"; then
	fail limits_others_login_meanwhile "mia was dropped"
elif [ $((t_ok - t0)) -lt 1500 ] && [ $((t_raw - t0)) -ge 1500 ] && [ $((t_raw - t0)) -lt 5000 ]; then
	pass limits_others_login_meanwhile
else
	fail limits_others_login_meanwhile "mia OK after $((t_ok - t0)) ms, raw closed after $((t_raw - t0)) ms"
fi
for id in raw part nolog; do
	if grep -q '^\*closed$' "$T/$id.out"; then pass "limits_login_timeout_drops_$id"; else
		fail "limits_login_timeout_drops_$id" "still open: $(tr '\n' '|' <"$T/$id.out")"; fi
done
if grep -q 'login timeout' "$T/s.log"; then pass limits_login_timeout_logged; else
	fail limits_login_timeout_logged "no 'login timeout' in the log"; fi

# --- a client that never reads while presence floods it ---
cl v -b 4096
say v "SIGNUP vic vic-pw" "PEER 4004 $KEYD" "CONTACTS flo"
need vic seen v '^OK vic$'
sync v
need flo signup f flo 4005 "$KEYA"
say f "CONTACTS vic mia"
say m "CONTACTS flo"
setup vic_sees_flo seen v '^ONLINE flo '
setup mia_sees_flo seen m '^ONLINE flo '
say v '!noread'
sleep 0.1
say f "!repeat 6000 PEER %d $KEYA"
if wait_for "$T/s.log" 'drop vic .*output buffer' 15; then pass limits_non_reader_dropped; else
	fail limits_non_reader_dropped "no drop in the log: $(tail -n 2 "$T/s.log" | tr '\n' '|')"; fi
expect limits_flooder_sees_non_reader_offline f '^OFFLINE vic$' 10
n=$(count f '^OK$')
say f "PING flo-done"
if seen f '^PONG flo-done$' 20 && [ "$n" -gt 100 ]; then pass limits_flooder_still_served; else
	fail limits_flooder_still_served "flo: $n OKs, $(tail -n 1 "$T/f.out")"; fi

# mia reads all the time: the same flood must not drop her (the server
# must flush her between batches of flo's lines, not after all of them).
if grep -q '^\*closed' "$T/m.out"; then
	fail limits_reading_contact_survives_flood "mia was dropped: $(grep 'drop mia' "$T/s.log" | cut -d' ' -f5- | head -n 1)"
elif sync m && [ "$(count m '^ONLINE flo ')" -gt 100 ]; then pass limits_reading_contact_survives_flood; else
	fail limits_reading_contact_survives_flood "mia got $(count m '^ONLINE flo ') updates; log: $(grep 'drop mia' "$T/s.log" | cut -d' ' -f5- | head -n 1)"; fi
# --- keepalive: kate has been silent since k_last ---
if seen w '^OFFLINE kate$' 10; then
	dt=$(($(ms) - k_last))
	if [ $dt -ge 4500 ]; then pass limits_keepalive_contact_sees_offline; else
		fail limits_keepalive_contact_sees_offline "after only $dt ms"; fi
else
	fail limits_keepalive_contact_sees_offline "walt never saw OFFLINE kate"
fi
expect limits_keepalive_drops_silent k '^\*closed$' 3
if grep -q 'drop kate .*keepalive' "$T/s.log"; then pass limits_keepalive_logged; else
	fail limits_keepalive_logged "$(grep kate "$T/s.log" | tail -n 1)"; fi
if [ -e "$T/data/run/kate" ]; then fail limits_keepalive_session_file_removed "still there"; else
	pass limits_keepalive_session_file_removed; fi
if sync w && ! grep -q '^\*closed' "$T/w.out"; then pass limits_keepalive_pinging_client_stays; else
	fail limits_keepalive_pinging_client_stays "walt dropped"; fi
srv_stop limits_sigterm_exit_0
no_crash limits_no_crash "$T/s.log"

# --- too many connections not logged in from one address ---
C2=$T/s2.conf
srv_conf "$C2" "max_unauth_per_ip = 2" "data_dir = $T/data2"
if setup unauth_server srv_start "$C2" "$T/s2.log"; then
	cl u1 -T
	cl u2 -T
	setup u1_connected seen u1 '^\*connected'
	setup u2_connected seen u2 '^\*connected'
	sleep 0.1
	cl u3 -T
	if seen u3 '^\*closed$' 3 && ! grep -q '^\*closed' "$T/u1.out"; then pass limits_unauth_per_ip_refused; else
		fail limits_unauth_per_ip_refused "u3: $(tr '\n' '|' <"$T/u3.out")"; fi
	say u1 '!close'
	setup u1_gone gone u1
	sleep 0.1
	cl u4
	expect limits_unauth_slot_freed u4 '^IM 1 '
	srv_stop limits_sigterm_exit_0_unauth
fi
no_crash limits_no_crash_unauth "$T/s2.log"

# --- a slow password hash (about a second) does not stall the loop ---
C3=$T/s3.conf
srv_conf "$C3" "pbkdf2_iterations = 1000000" "data_dir = $T/data3"
if setup slow_hash_server srv_start "$C3" "$T/s3.log"; then
	cl p
	cl s
	setup p_greeted seen p '^IM 1 '
	setup s_greeted seen s '^IM 1 '
	t0=$(ms)
	say s "SIGNUP sam sam-pw-long"
	sleep 0.05
	worst=0
	for n in 1 2 3; do
		t1=$(ms)
		sync p
		dt=$(($(ms) - t1))
		[ $dt -gt $worst ] && worst=$dt
	done
	t_pongs=$(ms)
	seen s '^OK sam$' 20
	t_ok=$(ms)
	if ! grep -q '^OK sam$' "$T/s.out"; then
		fail limits_slow_hash_does_not_stall "sam's SIGNUP never finished: $(tail -n 2 "$T/s.out" | tr '\n' '|')"
	elif [ $((t_ok - t0)) -lt 400 ]; then
		fail limits_slow_hash_does_not_stall "the hash took only $((t_ok - t0)) ms: not a real test"
	elif [ $worst -lt 300 ] && [ $t_pongs -lt $t_ok ]; then
		pass limits_slow_hash_does_not_stall
	else
		fail limits_slow_hash_does_not_stall "PONG took $worst ms while a $((t_ok - t0)) ms hash ran"
	fi
	# many slow logins queued, their clients waiting: SIGTERM does not
	# wait for them all (each takes about a second; 12 on 2 workers is
	# 6 s). The first answer shows the hashes really run.
	for n in 1 2 3 4 5 6 7 8 9 10 11 12; do
		cl "q$n"
		say "q$n" "LOGIN sam wrong-pw-$n"
	done
	answered() { grep -l '^ERR 401 ' "$T"/q*.out 2>/dev/null | wc -l; }
	i=0
	while [ "$(answered)" -eq 0 ] && [ $i -lt 600 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	before=$(answered)
	t_term=$(ms)
	srv_stop limits_sigterm_exit_0_slow
	dt=$(($(ms) - t_term))
	if [ "$before" -eq 0 ] || [ "$before" -ge 10 ]; then
		fail limits_sigterm_skips_queued_hashes "set-up: $before of 12 slow logins answered before SIGTERM, wanted 1-9"
	elif [ $dt -lt $((3 * (t_ok - t0) + 1000)) ] && [ "$(answered)" -lt 12 ]; then
		# at most the hashes in flight finish (one hash took
		# $((t_ok - t0)) ms under this load); the queue left would
		# take 5 or more hash times on 2 workers
		pass limits_sigterm_skips_queued_hashes
	else
		fail limits_sigterm_skips_queued_hashes "SIGTERM took $dt ms; $(answered) of 12 logins were hashed"
	fi
fi
no_crash limits_no_crash_slow "$T/s3.log"
