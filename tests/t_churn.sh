#!/bin/sh
# t_churn: issue 7's churn test. 2,000 clients logged in at once, 20 mutual
# contacts each, 60 s of logins, logouts (some right behind an ADD/DEL in
# the same packet), kills (reset or FIN without LOGOUT, some while the
# password is checked), hangs that keepalive must find, second logins
# (KICKED), late PEERs, PEER and CONTACTS changes and ADD/DEL; then every
# client's view of who is online (with address and key), and the server's
# session files, must equal the truth, the server's keepalive must have
# dropped exactly the hung clients, and the server's RSS must be back near
# its start once all have left. The driver is build/tests/churn
# (tests/churn.c); its figures are in this test's log.
# Knobs: IM_CHURN_CLIENTS (default 2000; 500 under ASan), IM_CHURN_SECS
# (default 60; 20 under ASan), IM_CHURN_SEED (repeat a run). An $IM path
# containing "asan" means a sanitizer build: smaller, and RSS not judged.
# Under an emulator (IM_EMULATOR, e.g. qemu-aarch64) RSS is not judged
# either: /proc/PID/status is the emulator's, its code cache included.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

CHURN=$TOP/build/tests/churn
LOAD=$TOP/build/tests/load
KA=10
asan=0
case $IM in *asan*) asan=1 ;; esac
if [ $asan = 1 ]; then
	clients=${IM_CHURN_CLIENTS:-500} secs=${IM_CHURN_SECS:-20}
else
	clients=${IM_CHURN_CLIENTS:-2000} secs=${IM_CHURN_SECS:-60}
fi
users=$((clients + clients / 10))

# The driver holds every client's socket (and, for a while, second logins
# and hung ones); the server one per client.
need=$((clients * 2 + 512))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $need ]; then
	ulimit -n $need 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
fi
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt $need ]; then
	clients=$(((nofile - 512) / 2))
	users=$((clients + clients / 10))
	echo "t_churn: open file limit $nofile (hard $(ulimit -Hn)): $clients clients, not 2000"
fi

# start_churn_server NAME: a server for the churn on its own data dir,
# holding USERS accounts; sets SRV_PID, PORT and RUN.
start_churn_server() {
	mkdir -p "$T/$1/data"
	C=$T/$1/s.conf
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data\n' "$T/$1"
		printf 'pbkdf2_iterations = 1000\nkeepalive_timeout = %s\n' $KA
		printf 'max_connections = %s\n' $((clients * 2 + 256))
	} >"$C"
	RUN=$T/$1/data/run
	"$LOAD" mkusers "$T/$1/data/users" 0 "$users" 1000 benchpass1 || return 1
	srv_start "$C" "$T/$1/s.log"
}

# --- self-check: a truth perturbed three ways must be reported ---
if ! start_churn_server self; then
	fail churn_selfcheck_detects "no server: $(head -c 300 "$T/self/s.log" | tr '\n' ' ')"
else
	"$CHURN" -P -R -n 100 -s 3 -r 20 -a 10 -k $KA "$PORT" "$SRV_PID" "$RUN" >"$T/self/churn.out" 2>&1
	if grep -q '^FAIL churn_views_match' "$T/self/churn.out" &&
		grep -q '^FAIL churn_session_files_match' "$T/self/churn.out" &&
		grep -q '^PASS churn_setup' "$T/self/churn.out"; then
		pass churn_selfcheck_detects
	else
		fail churn_selfcheck_detects "a perturbed truth was not reported: $(grep -E '^(PASS|FAIL)' \
			"$T/self/churn.out" | tr '\n' '|')"
	fi
	kill -TERM "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
fi

# --- the churn ---
if ! start_churn_server run; then
	fail churn_setup "no server: $(head -c 300 "$T/run/s.log" | tr '\n' ' ')"
	exit 1
fi
echo "t_churn: $clients clients, $users users, ${secs} s churn, server pid $SRV_PID port $PORT"
t0=$(date +%s)
set -- -n "$clients" -u "$users" -s "$secs" -k $KA
[ $asan = 1 ] || [ -n "${IM_EMULATOR:-}" ] && set -- "$@" -R
[ -n "${IM_CHURN_SEED:-}" ] && set -- "$@" -x "$IM_CHURN_SEED"
"$CHURN" "$@" "$PORT" "$SRV_PID" "$RUN" >"$T/run/churn.out" 2>&1
rc=$?
cat "$T/run/churn.out"
echo "t_churn: driver exited $rc after $(($(date +%s) - t0)) s"
for name in setup views_match session_files_match clients_done all_left; do
	grep -Eq "^(PASS|FAIL) churn_$name\b" "$T/run/churn.out" ||
		fail "churn_$name" "the driver did not get that far (exit $rc; see churn: lines above)"
done
[ $asan = 1 ] || [ -n "${IM_EMULATOR:-}" ] || grep -Eq '^(PASS|FAIL) churn_rss_back\b' "$T/run/churn.out" ||
	fail churn_rss_back "the driver did not get that far (exit $rc)"
# The server's own log: every hung client, and only those, dropped by
# keepalive.
ka_log=$(grep -c 'keepalive timeout' "$T/run/s.log")
ka_drv=$(sed -n 's/^churn: hangs=[0-9]* (dropped \([0-9]*\),.*/\1/p' "$T/run/churn.out")
rep_log=$(grep -c 'replaced by a newer login' "$T/run/s.log")
echo "t_churn: server log: $ka_log keepalive drops, $rep_log replaced, $(wc -l <"$T/run/s.log") lines"
if [ "$secs" -le $((KA + 2)) ]; then
	echo "SKIP churn_keepalive_drops_hung_only: a churn of $secs s leaves keepalive ($KA s) no time"
elif [ -n "$ka_drv" ] && [ "$ka_drv" -gt 0 ] && [ "$ka_log" -eq "$ka_drv" ]; then
	pass churn_keepalive_drops_hung_only
else
	fail churn_keepalive_drops_hung_only "server logged $ka_log keepalive drops, driver saw ${ka_drv:-no} hung clients dropped"
fi
if alive "$SRV_PID"; then pass churn_server_alive; else fail churn_server_alive "the server died during the churn"; fi
srv_stop churn_server_exit
no_crash churn_no_crash "$T/run/s.log" "$T/self/s.log"
