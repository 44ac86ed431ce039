#!/bin/sh
# tests/bench/tls_resume.sh: server CPU per TLS handshake on the login
# channel, full (ECDHE + ECDSA signature) against resumed with a session
# ticket, N (default 2000, BENCH_TLS_N) sequential connections each, from
# one process (build/tests/tlsresume), each up to the greeting line. CPU is
# the server's utime + stime from /proc/PID/stat around each run.
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
IM=${IM:-$TOP/im}
N=${BENCH_TLS_N:-2000}
mkdir -p tests/tmp
BT=$(mktemp -d "$TOP/tests/tmp/bench-tls.XXXXXX")
printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data\n' "$BT" >"$BT/s.conf"
"$IM" server -c "$BT/s.conf" 2>"$BT/s.log" &
SPID=$!
trap 'kill "$SPID" 2>/dev/null' EXIT INT TERM
i=0
while ! grep -q 'listening on' "$BT/s.log" && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$BT/s.log" | head -n 1)
[ -n "$PORT" ] || { echo "tls bench: server did not start" >&2; exit 1; }
HZ=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
for mode in full resume; do
	c0=$(cpu)
	out=$("$TOP/build/tests/tlsresume" "$mode" "$N" 127.0.0.1 "$PORT")
	c1=$(cpu)
	echo "tls $mode: $out; server CPU $(((c1 - c0) * 1000 / HZ)) ms, $(echo "$c1 $c0 $HZ $N" |
		awk '{printf "%.3f", ($1 - $2) * 1000 / $3 / $4}') ms per handshake"
done
