#!/bin/sh
# smoke: the few steps that prove a build works on a board, run on every
# cross target under qemu-user (./build.sh test --target T, and for each
# target after the suites of ./build.sh test) and on the stock build. Not a
# t_*.sh file: the suite covers all of it on ./im, in depth.
# A server on loopback with real TLS; alice signs up with `im client
# --batch`, bob (made with `im adduser`) logs in; each lists the other, sees
# the other online, sends a message the other receives byte for byte and
# sees acknowledged; both log out (the server logs it, each sees the other
# go); the server ends with status 0 on SIGTERM. Waits are long: under
# emulation a TLS handshake takes about ten times as long.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
W=60 # seconds any one step may take

expect_exit smoke_version 0 '^im [0-9]+\.[0-9]+\.[0-9]+$' "$IM" --version

srv_conf "$T/s.conf" "keepalive_timeout = 60"
# the server's readiness comes after it made its key: slow under emulation
: >"$T/s.log"
"$IM" server -c "$T/s.conf" 2>"$T/s.log" 3>&- 4>&- &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
if wait_for "$T/s.log" 'listening on [^ ]*:[0-9]+' $W; then
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/s.log" | head -n 1)
	pass smoke_server_up
else
	fail smoke_server_up "no readiness line in ${W}s: $(tail -n 3 "$T/s.log" | tr '\n' '|')"
	exit 1
fi
need bob_account sh -c "echo bob-pw-1 | '$IM' adduser -c '$T/s.conf' --password-stdin bob >'$T/add.out' 2>&1"

for id in alice bob; do cli_conf $id; done
cli_start alice 3
cli_start bob 4
tell alice "signup alice alice-pw-1"
tell bob "login bob bob-pw-1"
want smoke_signup_alice alice '^ready alice$' $W
want smoke_login_bob bob '^ready bob$' $W
if grep -Eq 'signup alice from 127\.0\.0\.1' "$T/s.log" && grep -Eq 'login bob from 127\.0\.0\.1' "$T/s.log"; then
	pass smoke_server_logged_logins
else
	fail smoke_server_logged_logins "$(grep -E 'alice|bob' "$T/s.log" | tail -n 4 | tr '\n' '|')"
fi

tell alice "add bob"
tell bob "add alice"
want smoke_alice_sees_bob alice '^online bob 127\.0\.0\.1 [0-9]+$' $W
want smoke_bob_sees_alice bob '^online alice 127\.0\.0\.1 [0-9]+$' $W

# the session records the server mirrors in run_dir, one file per user
if [ -f "$T/data/run/alice" ] && [ -f "$T/data/run/bob" ]; then pass smoke_session_files; else
	fail smoke_session_files "run_dir holds: $(ls "$T/data/run" 2>&1 | tr '\n' ' ')"; fi

M1='hello bob, from alice: Ünïcødé ✓'
M2='hi alice  (two spaces) and a \\ backslash'
tell alice "msg bob $M1"
want smoke_alice_msg_acked alice '^sent bob 1$' $W
if got bob '^msg alice 1 ' $W && grep -Fqx "msg alice 1 $M1" "$T/bob.out"; then pass smoke_bob_received; else
	fail smoke_bob_received "$(grep '^msg' "$T/bob.out" | head -n 2 | tr '\n' '|')"; fi
tell bob "msg alice $M2"
want smoke_bob_msg_acked bob '^sent alice 1$' $W
if got alice '^msg bob 1 ' $W && grep -Fqx "msg bob 1 $M2" "$T/alice.out"; then pass smoke_alice_received; else
	fail smoke_alice_received "$(grep '^msg' "$T/alice.out" | head -n 2 | tr '\n' '|')"; fi

# --- logout: bob first (alice sees him go), then alice ---
mark "$T/s.log" "$T/alice.out"
tell bob quit
want smoke_bob_bye bob '^bye$' $W
if got_new alice '^offline bob$' $W; then pass smoke_alice_sees_bob_leave; else
	fail smoke_alice_sees_bob_leave "$(new_lines "$T/alice.out" | tail -n 3 | tr '\n' '|')"; fi
if cli_wait bob $W; then
	eval "wait \$CPID_bob"
	rc=$?
	if [ $rc -eq 0 ]; then pass smoke_bob_exits_0; else fail smoke_bob_exits_0 "exit $rc"; fi
else
	fail smoke_bob_exits_0 "still running ${W}s after quit"
fi
tell alice quit
want smoke_alice_bye alice '^bye$' $W
if cli_wait alice $W; then
	eval "wait \$CPID_alice"
	rc=$?
	if [ $rc -eq 0 ]; then pass smoke_alice_exits_0; else fail smoke_alice_exits_0 "exit $rc"; fi
else
	fail smoke_alice_exits_0 "still running ${W}s after quit"
fi
if wait_new "$T/s.log" 'logout alice from' $W && new_lines "$T/s.log" | grep -q 'logout bob from'; then
	pass smoke_server_logged_logouts
else
	fail smoke_server_logged_logouts "$(new_lines "$T/s.log" | tail -n 4 | tr '\n' '|')"
fi
if [ -d "$T/data/run" ] && [ -z "$(ls -A "$T/data/run")" ]; then pass smoke_session_files_removed; else
	fail smoke_session_files_removed "left: $(ls "$T/data/run" | tr '\n' ' ')"; fi

# --- SIGTERM: the server stops, status 0, "stopped" logged ---
kill -TERM "$SRV_PID"
i=0
while alive "$SRV_PID" && [ $i -lt $((W * 20)) ]; do
	sleep 0.05
	i=$((i + 1))
done
if alive "$SRV_PID"; then
	kill -KILL "$SRV_PID"
	fail smoke_server_sigterm "still running ${W}s after SIGTERM"
else
	wait "$SRV_PID"
	rc=$?
	if [ $rc -eq 0 ] && grep -q 'stopped' "$T/s.log"; then pass smoke_server_sigterm; else
		fail smoke_server_sigterm "exit $rc; $(tail -n 2 "$T/s.log" | tr '\n' '|')"; fi
fi
no_crash smoke_no_crash "$T/s.log" "$T/alice.err" "$T/bob.err"
