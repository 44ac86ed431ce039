#!/bin/sh
# tests/bench/run.sh: the benchmarks that "./build.sh bench" prints, after
# build.sh has built ./im and build/tests/*. Figures, not pass/fail tests.
# Each part is a clearly marked block; add yours as another block.
# Usage: run.sh [all|server|client|storm|footprint|cluster] (build.sh
# bench PART passes it).
cd "$(dirname "$0")/../.." || exit 1
TOP=$PWD
mkdir -p tests/tmp
PART=${1:-all}
case $PART in
all | server | client | storm | footprint | cluster) ;;
*)
	echo "usage: tests/bench/run.sh [all|server|client|storm|footprint|cluster]" >&2
	exit 2
	;;
esac

# mosquitto_setup DIR: a P-256 key and self-signed certificate, and a
# password file with the user "bench" (password benchpass1), in DIR;
# mosquitto_conf DIR PORT: DIR/mosquitto.conf, TLS + password on
# 127.0.0.1:PORT. 0 when mosquitto, mosquitto_passwd and openssl exist.
mosquitto_setup() {
	command -v mosquitto >/dev/null 2>&1 && command -v mosquitto_passwd >/dev/null 2>&1 &&
		command -v openssl >/dev/null 2>&1 || return 1
	mkdir -p "$1"
	openssl ecparam -name prime256v1 -genkey -noout -out "$1/key.pem" 2>/dev/null &&
		openssl req -new -x509 -key "$1/key.pem" -out "$1/cert.pem" -days 2 -subj /CN=localhost 2>/dev/null &&
		mosquitto_passwd -c -b "$1/passwd" bench benchpass1 >/dev/null 2>&1
}
mosquitto_conf() {
	{
		echo "listener $2 127.0.0.1"
		echo "certfile $1/cert.pem"
		echo "keyfile $1/key.pem"
		echo "password_file $1/passwd"
		echo "allow_anonymous false"
		echo "max_connections -1"
		echo "persistence false"
		echo "log_dest stderr"
		echo "log_type error"
		echo "log_type warning"
		[ "$(id -u)" = 0 ] && echo "user root"
	} >"$1/mosquitto.conf"
}
mosquitto_version() {
	mosquitto -h 2>/dev/null | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1
}

# Helpers of the benchmark parts (BPIDS: every process started, killed at
# exit). im_conf DIR EXTRA...: DIR/im.conf, a server on 127.0.0.1 with an
# ephemeral port and room for IM_MAXC connections (the caller sets it).
# Every login comes from 127.0.0.1, and one counts against
# max_failures_per_ip until it succeeds, so more than 20 in flight would
# get ERR 429: that limit is raised to IM_MAXC too.
im_conf() {
	d=$1
	shift
	mkdir -p "$d/data"
	{
		echo "[server]"
		echo "listen = 127.0.0.1"
		echo "port = 0"
		echo "data_dir = $d/data"
		echo "max_connections = $IM_MAXC"
		echo "max_connections_per_ip = $IM_MAXC"
		echo "max_unauth = 1000"
		echo "max_unauth_per_ip = 1000"
		echo "max_failures_per_ip = $IM_MAXC"
		echo "keepalive_timeout = 600"
		# 64 logins at once may queue a while on a slow (sanitizer) build:
		# time enough, so none is refused as "server busy"
		echo "login_timeout = 300"
		for kv in "$@"; do echo "$kv"; done
	} >"$d/im.conf"
}
# start_im DIR [BINARY]: starts BINARY (default $IM) as the server of
# DIR/im.conf, logging to DIR/server.log; sets SPID and SPORT.
start_im() {
	: >"$1/server.log" # there before the server's shell opens it: the loop below reads it
	"${2:-$IM}" server -c "$1/im.conf" 2>"$1/server.log" &
	SPID=$!
	BPIDS="$BPIDS $SPID"
	SPORT=""
	i=0
	while [ $i -lt 200 ] && [ -z "$SPORT" ]; do
		SPORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1/server.log" | head -1)
		[ -n "$SPORT" ] || sleep 0.05
		i=$((i + 1))
	done
	[ -n "$SPORT" ] || { echo "bench: im server did not start:"; cat "$1/server.log"; return 1; }
}
# mosquitto_start DIR: Mosquitto on DIR/mosquitto.conf (made by
# mosquitto_conf), on another port if the first is taken; sets QPID and
# QPORT, or says why not and returns 1. Logs to DIR/log.
mosquitto_start() {
	QPORT=$((20000 + $$ % 10000))
	QPID=""
	for try in 1 2 3; do
		mosquitto_conf "$1" "$QPORT"
		mosquitto -c "$1/mosquitto.conf" >"$1/log" 2>&1 &
		QPID=$!
		BPIDS="$BPIDS $QPID"
		sleep 0.5
		kill -0 "$QPID" 2>/dev/null && return 0
		QPID=""
		QPORT=$((QPORT + 1))
	done
	echo "bench: mosquitto did not start: $(tail -2 "$1/log")"
	return 1
}
stop() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
# kv FILE KEY [LINE-PATTERN]: the value of KEY=... in FILE.
kv() {
	grep -- "${3:-.}" "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }
per_kib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1024 }'; }
# raise_nofile N MARGIN: raises the open file limit as far as the hard
# limit allows (every client comes from 127.0.0.1 and needs a descriptor
# on both sides); prints N, or what the limit leaves of it, and says so.
raise_nofile() {
	ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
	nofile=$(ulimit -n)
	if [ "$nofile" != unlimited ] && [ "$nofile" -lt $(($1 + $2)) ]; then
		echo "bench: open file limit $nofile: holding $((nofile - $2)) sessions, not $1" >&2
		echo $((nofile - $2))
	else
		echo "$1"
	fi
}

# ==== server benchmark (issue 3): logins/s, RSS per session, fan-out, idle
# CPU, bare mbedTLS and Mosquitto beside im. Knobs: BENCH_SESSIONS
# (default 10000), BENCH_QUICK=1 (smaller counts, for trying the script).
server_bench() {
	B=$TOP/build/tests
	IM=${IM:-$TOP/im}
	BT=$(mktemp -d "$TOP/tests/tmp/bench-srv.XXXXXX")
	BPIDS=""
	trap 'for p in $BPIDS; do kill "$p" 2>/dev/null; done' EXIT INT TERM
	N2=${BENCH_SESSIONS:-10000}
	N1=1000
	R1=400 R64=1200 D1=10 D64=64 FK=1000 FREPS=10 IDLE=10
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		N2=2000 N1=500 R1=100 R64=200 D1=3 D64=16 FK=200 FREPS=5 IDLE=3
	fi
	N2=$(raise_nofile "$N2" 200)
	IM_MAXC=$((N2 + 2000))
	DEF_ITER=$(sed -n 's/.*s->pbkdf2_iterations = \([0-9]*\);.*/\1/p' modules/conf.c)
	MBED=$(sed -n 's/.*MBEDTLS_VERSION_STRING *"\([^"]*\)".*/\1/p' /usr/include/mbedtls/version.h 2>/dev/null)

	rate_row() { # LABEL FILE
		printf '  %-34s %5s %6s %9s %8s %8s %9s\n' "$1" "$(kv "$2" conc)" "$(kv "$2" ok)" "$(kv "$2" rate)" \
			"$(kv "$2" p50_ms)" "$(kv "$2" p99_ms)" "$(kv "$2" srv_cpu_ms_per_op)"
	}

	echo "== server benchmark: $(nproc) cores, mbedTLS ${MBED:-?}, loopback, $(date -u '+%Y-%m-%d %H:%M UTC') =="
	echo "(load average at start: $(cut -d' ' -f1-3 /proc/loadavg); other work on the box skews wall-clock rates,"
	echo " server CPU per operation does not)"

	# ---- 1. logins per second, and the bare handshake loop ----
	L=$BT/login
	im_conf "$L"
	"$B/load" mkusers "$L/data/users" 1 $((R1 + R64)) 1000 benchpass1 || return 1
	"$B/load" mkusers "$L/data/users" 5001 $((D1 + D64)) "$DEF_ITER" benchpass1 || return 1
	start_im "$L" || return 1
	"$B/load" rate "$SPORT" login "$R1" 1 1 "$SPID" >"$L/i1k_c1" || echo "bench: failures, see above"
	"$B/load" rate "$SPORT" login "$R64" 64 $((1 + R1)) "$SPID" >"$L/i1k_c64" || echo "bench: failures, see above"
	"$B/load" rate "$SPORT" login "$D1" 1 5001 "$SPID" >"$L/idef_c1" || echo "bench: failures, see above"
	"$B/load" rate "$SPORT" login "$D64" 64 $((5001 + D1)) "$SPID" >"$L/idef_c64" || echo "bench: failures, see above"
	stop "$SPID"
	"$B/baseline" "$L/data/server.key" "$L/data/server.crt" >"$L/baseline.out" 2>&1 &
	BPID=$!
	BPIDS="$BPIDS $BPID"
	sleep 0.3
	BPORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$L/baseline.out")
	"$B/load" rate "$BPORT" hs "$R1" 1 1 "$BPID" >"$L/hs_c1"
	"$B/load" rate "$BPORT" hs "$R64" 64 1 "$BPID" >"$L/hs_c64"
	stop "$BPID"

	echo
	echo "Logins over TLS (fresh TCP + TLS handshake + greeting + LOGIN -> OK), one client process:"
	printf '  %-34s %5s %6s %9s %8s %8s %9s\n' "" C n "per sec" "p50 ms" "p99 ms" "srv CPU"
	printf '  %-34s %5s %6s %9s %8s %8s %9s\n' "" "" "" "" "" "" "ms/op"
	rate_row "im, pbkdf2 $DEF_ITER (default)" "$L/idef_c1"
	rate_row "im, pbkdf2 $DEF_ITER (default)" "$L/idef_c64"
	rate_row "im, pbkdf2 1000" "$L/i1k_c1"
	rate_row "im, pbkdf2 1000" "$L/i1k_c64"
	rate_row "bare mbedTLS handshake (baseline)" "$L/hs_c1"
	rate_row "bare mbedTLS handshake (baseline)" "$L/hs_c64"
	echo "  im (pbkdf2 1000) against the bare loop, target >= 90%:"
	echo "    logins/s vs handshakes/s:  C=1 $(ratio "$(kv "$L/i1k_c1" rate)" "$(kv "$L/hs_c1" rate)")," \
		"C=64 $(ratio "$(kv "$L/i1k_c64" rate)" "$(kv "$L/hs_c64" rate)")"
	echo "    by server CPU per op:      C=1 $(ratio "$(kv "$L/hs_c1" srv_cpu_ms_per_op)" "$(kv "$L/i1k_c1" srv_cpu_ms_per_op)")," \
		"C=64 $(ratio "$(kv "$L/hs_c64" srv_cpu_ms_per_op)" "$(kv "$L/i1k_c64" srv_cpu_ms_per_op)")" \
		"(the CPU figure counts the PBKDF2 threads too)"

	# ---- 2. memory per idle session, idle CPU ----
	M=$BT/mem
	im_conf "$M"
	"$B/load" mkusers "$M/data/users" 1 $((N2 + 2)) 1000 benchpass1 || return 1
	start_im "$M" || return 1
	"$B/load" hold "$SPORT" login "$N1,$N2" 64 1 "$SPID" "$IDLE" >"$M/im" || echo "bench: im hold failed"
	stop "$SPID"
	"$B/baseline" "$L/data/server.key" "$L/data/server.crt" >"$M/baseline.out" 2>&1 &
	BPID=$!
	BPIDS="$BPIDS $BPID"
	sleep 0.3
	BPORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$M/baseline.out")
	"$B/load" hold "$BPORT" hs "$N1,$N2" 64 1 "$BPID" 2 >"$M/bare" || echo "bench: bare hold failed"
	stop "$BPID"

	MQ=""
	Q=$BT/mqtt
	if mosquitto_setup "$Q"; then
		if mosquitto_start "$Q"; then
			"$B/load" hold "$QPORT" mqtt "$N1,$N2" 64 1 "$QPID" 2 >"$Q/res" && MQ=$Q/res ||
				echo "bench: mosquitto hold failed: $(tail -2 "$Q/log")"
			stop "$QPID"
		fi
	fi

	imb1=$(kv "$M/im" per_session_bytes "n=$N1 ")
	imb2=$(kv "$M/im" per_session_bytes "n=$N2 ")
	bb1=$(kv "$M/bare" per_session_bytes "n=$N1 ")
	bb2=$(kv "$M/bare" per_session_bytes "n=$N2 ")
	echo
	echo "Server RSS per idle connection (VmRSS delta / connections; each im session logged in, PEER sent,"
	echo "two mutual contacts):"
	printf '  %-44s %12s %12s\n' "" "at $N1" "at $N2"
	printf '  %-44s %8s KiB %8s KiB\n' "im server, per logged-in session" "$(per_kib "$imb1")" "$(per_kib "$imb2")"
	printf '  %-44s %8s KiB %8s KiB\n' "bare mbedTLS server, per TLS connection" "$(per_kib "$bb1")" "$(per_kib "$bb2")"
	printf '  %-44s %8s KiB %8s KiB   (target <= 4 KiB)\n' "im's own part (im - bare mbedTLS)" \
		"$(per_kib $((imb1 - bb1)))" "$(per_kib $((imb2 - bb2)))"
	if [ -n "$MQ" ]; then
		printf '  %-44s %8s KiB %8s KiB\n' "Mosquitto $(mosquitto_version), TLS+password, per conn" \
			"$(per_kib "$(kv "$MQ" per_session_bytes "n=$N1 ")")" "$(per_kib "$(kv "$MQ" per_session_bytes "n=$N2 ")")"
	else
		echo "  Mosquitto: not installed (apt-get install mosquitto mosquitto-clients), skipped"
	fi
	echo "  mbedTLS by its build: $("$B/baseline" size) (bytes)"
	echo "  sessions still connected after the idle period: im $(kv "$M/im" live) of $N2"
	echo
	echo "Server CPU while $N2 sessions sit idle (utime+stime delta):"
	echo "  im: $(kv "$M/im" idle_cpu_ms) ms in $(kv "$M/im" idle_secs) s ($(kv "$M/im" idle_cpu_pct)% of one core)"
	echo "  bare mbedTLS server (poll over the same fds): $(kv "$M/bare" idle_cpu_ms) ms in $(kv "$M/bare" idle_secs) s"
	[ -n "$MQ" ] && echo "  Mosquitto: $(kv "$MQ" idle_cpu_ms) ms in $(kv "$MQ" idle_secs) s"

	# ---- 3. presence fan-out ----
	F=$BT/fanout
	im_conf "$F" "max_contacts = $((FK + 10))"
	"$B/load" mkusers "$F/data/users" 1 $((FK + 20)) 1000 benchpass1 || return 1
	start_im "$F" || return 1
	"$B/load" fanout "$SPORT" 10 20 1 >"$F/k10" || echo "bench: fan-out K=10 failed"
	stop "$SPID"
	start_im "$F" || return 1
	"$B/load" fanout "$SPORT" "$FK" "$FREPS" 1 >"$F/kbig" || echo "bench: fan-out K=$FK failed"
	stop "$SPID"
	echo
	echo "Presence fan-out: X sends PEER; until all K online mutual contacts have read 'ONLINE X ...':"
	printf '  %-8s %5s %12s %12s %14s %14s %14s\n' K reps "all p50 ms" "all p99 ms" "each p50 ms" "each p99 ms" "X's K ADDs ms"
	for f in "$F/k10" "$F/kbig"; do
		printf '  %-8s %5s %12s %12s %14s %14s %14s\n' "$(kv "$f" k)" "$(kv "$f" reps)" "$(kv "$f" all_p50_ms)" \
			"$(kv "$f" all_p99_ms)" "$(kv "$f" each_p50_ms)" "$(kv "$f" each_p99_ms)" "$(kv "$f" add_ms)"
	done
	echo "  (target: all p99 < 50 ms for K = 1000; 'all' = per repetition, the last contact to hear)"
	echo
	echo "raw figures: $BT"
}
if [ "$PART" = all ] || [ "$PART" = server ]; then server_bench; fi
# ==== end of server benchmark ====

# ==== client benchmark (issue 4): the peer channel's MSG -> ACK round trip
# and one-way rate beside a plain TCP ping-pong (tests/bench/peer.c), and
# the idle client's RSS with 100 contacts online (100 imtc sessions that
# list it). Knob: BENCH_QUICK=1 for smaller counts.
client_bench() {
	B=$TOP/build/tests
	IM=${IM:-$TOP/im}
	CB=$(mktemp -d "$TOP/tests/tmp/bench-cli.XXXXXX")
	CPIDS=""
	trap 'for p in $CPIDS; do kill "$p" 2>/dev/null; done' EXIT INT TERM
	echo
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		"$B/peer" 1000 10000 100 || echo "bench: peer channel run failed"
	else
		"$B/peer" 10000 100000 100 || echo "bench: peer channel run failed"
		"$B/peer" 5000 50000 900 || echo "bench: peer channel run failed"
	fi

	mkdir -p "$CB/data"
	mkdir -m 700 "$CB/idle"
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data\n' "$CB"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nkeepalive_timeout = 600\n'
		printf 'max_unauth_per_ip = 1000\nmax_unauth = 1000\nmax_connections_per_ip = 1000\n'
		printf '[client]\nserver = 127.0.0.1\nstate_dir = %s/idle\npeer_listen = 127.0.0.1\n' "$CB"
	} >"$CB/im.conf"
	"$IM" server -c "$CB/im.conf" 2>"$CB/s.log" &
	CPIDS="$CPIDS $!"
	i=0
	while ! grep -q 'listening on' "$CB/s.log" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$CB/s.log" | head -n 1)
	if [ -z "$port" ]; then
		echo "bench: client RSS: the server did not start"
		return 1
	fi
	printf 'server_port = %s\n' "$port" >>"$CB/im.conf"
	n=1
	while [ $n -le 100 ]; do echo "u$n"; n=$((n + 1)); done >"$CB/idle/contacts"
	mkfifo "$CB/idle.fifo"
	"$IM" client -c "$CB/im.conf" --batch <"$CB/idle.fifo" >"$CB/idle.out" 2>"$CB/idle.err" &
	cpid=$!
	CPIDS="$CPIDS $cpid"
	exec 7>"$CB/idle.fifo"
	echo "signup idle idle-pw" >&7
	key=$(printf '%064d' 7)
	n=1
	while [ $n -le 100 ]; do
		printf 'SIGNUP u%d pw-u%d\nPEER %d %s\nCONTACTS idle\n' $n $n $((20000 + n)) "$key" >"$CB/u$n.in"
		"$B/imtc" -w 600 -i "$CB/u$n.in" 127.0.0.1 "$port" >"$CB/u$n.out" 2>&1 &
		CPIDS="$CPIDS $!"
		n=$((n + 1))
	done
	i=0
	while [ "$(grep -c '^online u' "$CB/idle.out")" -lt 100 ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done
	online=$(grep -c '^online u' "$CB/idle.out")
	sleep 2 # let the allocator settle: this is the idle figure
	rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$cpid/status")
	echo "Idle client RSS with $online contacts online: $rss kB (im client --batch, static binary)"
	exec 7>&-
	for p in $CPIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	echo "raw figures: $CB"
}
if [ "$PART" = all ] || [ "$PART" = client ]; then client_bench; fi
# ==== end of client benchmark ====

# ==== reconnect storm (issue 8): N clients online, the server restarted
# (SIGTERM, wait for the exit, start again on the same port), every client
# reconnects; the same for Mosquitto (TLS + password). tests/bench/storm.c
# drives it and reads the new server's CPU from /proc/PID/stat. Knobs:
# BENCH_STORM (N, default 2000), BENCH_STORM_PW (clients of the storm at
# the default pbkdf2 cost, default 200), BENCH_STORM_JITTER (MIN-MAX ms:
# the first reconnect delay, uniform; default 100-1000 as im's client),
# BENCH_QUICK=1 (500 and 40), IM_BASE (the binary before issue 8, for the
# first-login cost beside it; default /work/base/im when present).
storm_bench() {
	B=$TOP/build/tests
	IM=${IM:-$TOP/im}
	ST=$(mktemp -d "$TOP/tests/tmp/bench-storm.XXXXXX")
	N=${BENCH_STORM:-2000}
	NPW=${BENCH_STORM_PW:-200}
	JIT=${BENCH_STORM_JITTER:-100-1000}
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		N=500 NPW=40
	fi
	IM_BASE=${IM_BASE:-}
	[ -z "$IM_BASE" ] && [ -x /work/base/im ] && IM_BASE=/work/base/im
	# Every client comes from 127.0.0.1 and holds a descriptor on both sides.
	ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
	nofile=$(ulimit -n)
	if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((N + 300)) ]; then
		N=$((nofile - 300))
		echo "bench: open file limit $nofile: a storm of $N clients"
	fi
	DEF_ITER=$(sed -n 's/.*s->pbkdf2_iterations = \([0-9]*\);.*/\1/p' modules/conf.c)
	CORES=$(nproc)
	SPORT=$((20000 + ($$ + 37) % 10000))

	# storm_conf DIR: the server's config: loopback, a fixed port (a
	# restart must come back where the clients look), and the per-address
	# and unauthenticated limits raised to N because every client shares
	# 127.0.0.1 (max_failures_per_ip too: a login counts as a failure
	# until it succeeds, so 20 logins in flight from one address get
	# ERR 429); everything else at its default (login_timeout 30 s,
	# workers = cores).
	storm_conf() {
		mkdir -p "$1/data"
		{
			echo "[server]"
			echo "listen = 127.0.0.1"
			echo "port = $SPORT"
			echo "data_dir = $1/data"
			echo "max_connections = $((N + 500))"
			echo "max_connections_per_ip = $((N + 500))"
			echo "max_unauth = $((N + 500))"
			echo "max_unauth_per_ip = $((N + 500))"
			echo "max_failures_per_ip = $((N + 500))"
			echo "keepalive_timeout = 600"
		} >"$1/im.conf"
	}
	# storm_run OUT ARGS...: build/tests/storm ARGS, on another port
	# when this one is taken (exit 3); the figures go to OUT.
	storm_run() {
		out=$1
		shift
		for try in 1 2 3; do
			"$B/storm" "$@" >"$out" 2>"$out.err"
			rc=$?
			[ $rc = 3 ] || break
			SPORT=$((SPORT + 1))
		done
		[ $rc = 0 ] || echo "bench: storm: $(tail -n 2 "$out.err" | tr '\n' ' ')"
		return $rc
	}
	kv() {
		grep -- "${3:-.}" "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
	}
	row() { # LABEL FILE
		f=$2
		printf '  %-40s %5s %5s %8s %7s %7s %8s %7s %7s %5s\n' "$1" "$(kv "$f" n storm)" "$(kv "$f" back storm)" \
			"$(kv "$f" secs storm)" "$(kv "$f" p50_ms storm)" "$(kv "$f" p90_ms storm)" \
			"$(kv "$f" srv_cpu_ms_per_op storm)" "$(kv "$f" tls_resumed storm)" "$(kv "$f" resume_ok storm)" \
			"$(kv "$f" retries storm)"
	}

	echo
	echo "== reconnect storm: $CORES cores, loopback, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg) =="
	echo "(server: $IM, $("$IM" --version 2>/dev/null | head -n 1); the storm's own TLS clients share the cores, so"
	echo " wall-clock times include their handshakes; server CPU per reconnect does not)"

	# ---- 1. today's reconnect: LOGIN with the password at the default cost ----
	# Set up on pbkdf2 1000 (cheap), then the users file at the default
	# cost is renamed in while the server is down: every reconnect pays the
	# full handshake and PBKDF2 at $DEF_ITER. -p: no RESUME, no TLS session.
	P=$ST/password
	storm_conf "$P"
	"$B/load" mkusers "$P/data/users" 1 "$NPW" 1000 benchpass1 || return 1
	"$B/load" mkusers "$P/users.default" 1 "$NPW" "$DEF_ITER" benchpass1 || return 1
	storm_run "$P/res" -p -l "$P" -u "$P/users.default" "$P/data/users" im "$SPORT" "$NPW" 1 -- \
		"$IM" server -c "$P/im.conf"
	TOKENS=$(kv "$P/res" tokens setup)

	# ---- 2. the full storm: RESUME + TLS session when offered ----
	# Set up on pbkdf2 1000 and kept so: a resume token is bound to the
	# user's password record (a changed record voids it, as im passwd
	# must), so the default-cost file cannot be renamed in under the
	# tokens. A RESUME hashes no password; a fallback to the password
	# would cost pbkdf2 1000 here, and each one is counted. A server
	# without tokens (before issue 8) makes this a LOGIN storm at pbkdf2
	# 1000: labelled so.
	R=$ST/resume
	storm_conf "$R"
	"$B/load" mkusers "$R/data/users" 1 "$N" 1000 benchpass1 || return 1
	mkdir -p "$R/now.d" "$R/jit.d"
	storm_run "$R/now" -l "$R/now.d" im "$SPORT" "$N" 1 -- "$IM" server -c "$R/im.conf"
	rm -f "$R/data/tokens" "$R/data/ticket.keys"
	storm_run "$R/jit" -j "$JIT" -l "$R/jit.d" im "$SPORT" "$N" 1 -- "$IM" server -c "$R/im.conf"

	# ---- 3. Mosquitto: the same N, TLS (P-256) + password, at once ----
	Q=$ST/mqtt
	MQ=""
	if mosquitto_setup "$Q"; then
		mosquitto_conf "$Q" "$SPORT"
		mkdir -p "$Q/now.d" "$Q/jit.d"
		storm_run "$Q/res" -l "$Q/now.d" mqtt "$SPORT" "$N" 1 -- mosquitto -c "$Q/mosquitto.conf" && MQ=$Q/res
		mosquitto_conf "$Q" "$SPORT"
		storm_run "$Q/jit" -j "$JIT" -l "$Q/jit.d" mqtt "$SPORT" "$N" 1 -- mosquitto -c "$Q/mosquitto.conf"
	else
		echo "bench: Mosquitto not installed (apt-get install mosquitto), skipped"
	fi

	# ---- 4. a first login's cost: LOGIN, full handshake, pbkdf2 default ----
	F=$ST/first
	FN=10
	firstlogin() { # BINARY OUT
		rm -rf "$F/data"
		mkdir -p "$F/data"
		sed -e "s|^port = .*|port = 0|" "$P/im.conf" | sed -e "s|^data_dir = .*|data_dir = $F/data|" >"$F/im.conf"
		"$B/load" mkusers "$F/data/users" 1 "$FN" "$DEF_ITER" benchpass1 || return 1
		rm -f "$2.log"
		"$1" server -c "$F/im.conf" 2>"$2.log" &
		fpid=$!
		fport=""
		i=0
		while [ $i -lt 200 ] && [ -z "$fport" ]; do
			fport=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$2.log" 2>/dev/null | head -1)
			[ -n "$fport" ] || sleep 0.05
			i=$((i + 1))
		done
		[ -n "$fport" ] && "$B/load" rate "$fport" login "$FN" 1 1 "$fpid" >"$2"
		kill "$fpid" 2>/dev/null
		wait "$fpid" 2>/dev/null
	}
	mkdir -p "$F"
	firstlogin "$IM" "$F/im"
	[ -n "$IM_BASE" ] && firstlogin "$IM_BASE" "$F/base"

	# ---- the table ----
	echo "Reconnect storm: clients logged in (LOGIN, PEER, CONTACTS), the server restarted (SIGTERM,"
	echo "exit, start on the same port); time from the new server accepting until every client has its"
	echo "login, PEER and CONTACTS answered again (Mosquitto: CONNACK). Server CPU: the new process, per"
	echo "reconnect. Retries use full-jitter backoff (uniform 100 ms .. 1 s, the cap doubling to 30 s)."
	printf '  %-40s %5s %5s %8s %7s %7s %8s %7s %7s %5s\n' "" N back "all s" "p50 ms" "p90 ms" "CPU ms" "TLS" \
		RESUME retry
	printf '  %-40s %5s %5s %8s %7s %7s %8s %7s %7s %5s\n' "" "" "" "" "" "" "/op" resumed ok ""
	if [ "${TOKENS:-0}" -gt 0 ]; then
		row "im, RESUME + ticket, all at once" "$R/now"
		row "im, RESUME + ticket, jitter $JIT ms" "$R/jit"
	else
		row "im, no TOKEN offered: LOGIN pbkdf2 1000" "$R/now"
		row "  same, jitter $JIT ms" "$R/jit"
	fi
	row "im, LOGIN pbkdf2 $DEF_ITER (today), at once" "$P/res"
	if [ -n "$MQ" ]; then
		row "Mosquitto $(mosquitto_version), TLS+password, at once" "$MQ"
		row "  same, jitter $JIT ms" "$Q/jit"
	fi
	pw_cpu=$(kv "$P/res" srv_cpu_ms_per_op storm)
	pw_secs=$(kv "$P/res" secs storm)
	echo "  the password storm at N=$N, extrapolated from $NPW clients (not measured):" \
		"$(awk -v c="$pw_cpu" -v n="$N" -v k="$CORES" 'BEGIN { printf "%.0f s of server CPU, >= %.0f s on %d cores", c * n / 1000, c * n / 1000 / k, k }')," \
		"$(awk -v s="$pw_secs" -v n="$N" -v m="$NPW" 'BEGIN { printf "about %.0f s linearly from %.1f s", s * n / m, s }')"
	echo "  the restart itself (SIGTERM until the new server accepts): im $(kv "$R/now" secs_from_term storm | awk -v b="$(kv "$R/now" secs storm)" '{ printf "%.2f", $1 - b }') s" \
		"with $N sessions${MQ:+, Mosquitto $(kv "$MQ" secs_from_term storm | awk -v b="$(kv "$MQ" secs storm)" '{ printf "%.2f", $1 - b }') s}"
	echo "  storm details: $(kv "$R/now" fallback storm) fell back to the password," \
		"$(kv "$R/now" err503 storm) ERR 503, $(kv "$R/now" closed storm) closed early;" \
		"tokens sent at set-up: $(kv "$R/now" tokens setup) of $N;" \
		"the password storm: $(kv "$P/res" err503 storm) ERR 503, $(kv "$P/res" closed storm) closed/timed out," \
		"$(kv "$P/res" max_attempts storm) attempts at most"
	if [ -n "$MQ" ]; then
		pct() { awk -v a="$(kv "$1" "$3" storm)" -v b="$(kv "$2" "$3" storm)" -v f="$4" 'BEGIN { if (b > 0) printf "%.0f%% (" f " vs " f ")", 100 * a / b, a, b; else print "-" }'; }
		echo "  im against Mosquitto, all back (target <= 100%): at once $(pct "$R/now" "$MQ" secs %.2f) s," \
			"with jitter $(pct "$R/jit" "$Q/jit" secs %.2f) s; p50 at once $(pct "$R/now" "$MQ" p50_ms %.0f) ms," \
			"with jitter $(pct "$R/jit" "$Q/jit" p50_ms %.0f) ms;" \
			"server CPU per reconnect $(awk -v a="$(kv "$R/now" srv_cpu_ms_per_op storm)" -v b="$(kv "$MQ" srv_cpu_ms_per_op storm)" 'BEGIN { printf "%.2f vs %.2f ms", a, b }')"
	fi
	if [ "${TOKENS:-0}" -gt 0 ]; then
		echo "  server CPU per resumed login (target <= 0.5 ms): $(kv "$R/now" srv_cpu_ms_per_op storm) ms at once," \
			"$(kv "$R/jit" srv_cpu_ms_per_op storm) ms with jitter; TLS resumed $(kv "$R/now" tls_resumed storm) of $N"
	else
		echo "  this server sent no TOKEN after OK: no resume storm (every reconnect is a full LOGIN)"
	fi
	echo "  a first login (fresh TLS, LOGIN at pbkdf2 $DEF_ITER, one at a time, $FN logins): server CPU" \
		"$(kv "$F/im" srv_cpu_ms_per_op) ms each, p50 $(kv "$F/im" p50_ms) ms" \
		"${IM_BASE:+; before issue 8 ($IM_BASE): $(kv "$F/base" srv_cpu_ms_per_op) ms, p50 $(kv "$F/base" p50_ms) ms}"
	echo "raw figures: $ST"
}
if [ "$PART" = all ] || [ "$PART" = storm ]; then storm_bench; fi
# ==== end of reconnect storm ====

# ==== footprint (issue 9): binary size per build and target; server RSS
# per idle logged-in session for the project's build, the stock build
# (glibc, Debian's mbedTLS) and Mosquitto; full TLS handshakes per second
# of both builds, run alternately. Knobs: IM (default ./im), IM_STOCK
# (default build/stock/im), BENCH_SESSIONS (default 10000), BENCH_HS (full
# handshakes per run, default 300), BENCH_HS_ROUNDS (A B pairs, default
# 20: short runs, many of them, so a burst of other work hits both), BENCH_HS_CONC (connections in flight, default 16), BENCH_QUICK=1.
footprint_bench() {
	B=$TOP/build/tests
	IM=${IM:-$TOP/im}
	IM_STOCK=${IM_STOCK:-$TOP/build/stock/im}
	FP=$(mktemp -d "$TOP/tests/tmp/bench-fp.XXXXXX")
	BPIDS=""
	trap 'for p in $BPIDS; do kill "$p" 2>/dev/null; done' EXIT INT TERM
	N=${BENCH_SESSIONS:-10000}
	HSN=${BENCH_HS:-300}
	HSR=${BENCH_HS_ROUNDS:-20}
	HSC=${BENCH_HS_CONC:-16}
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		N=1000 HSN=200 HSR=4
	fi
	N=$(raise_nofile "$N" 200)
	IM_MAXC=$((N + 2000))
	kib() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1024 }'; }
	# fsize LABEL FILE HOW: one row of the size table; HOW builds FILE.
	fsize() {
		if [ ! -f "$2" ]; then
			printf '  %-30s not built (%s)\n' "$1" "$3"
			return
		fi
		sz=$(wc -c <"$2")
		# "file" without the build id, ELF version and minimum kernel
		desc=$(file -b "$2" | sed -e 's/, BuildID\[[^]]*\]=[0-9a-f]*//' -e 's/,* version 1 ([A-Z]*)//' \
			-e 's/, for GNU\/Linux [0-9.]*//' -e 's/^ELF //')
		printf '  %-30s %9s %8s %6s   %s\n' "$1" "$sz" "$(kib "$sz")" "$(strings -a "$2" | grep -ci glibc)" "$desc"
	}
	same() { [ -f "$1" ] && [ -f "$2" ] && cmp -s "$1" "$2"; }

	echo
	echo "== footprint: $(nproc) cores, loopback, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg) =="
	for v in IM IM_STOCK; do
		eval "f=\$$v"
		echo "($v=$f$([ -x "$f" ] && "$f" --version 2>/dev/null | sed -n '2s/^/: /p'))"
	done

	# ---- 1. binary size per build and target ----
	echo
	echo "Binary size per build and target (glibc: strings holding \"glibc\", any case; want 0 for musl):"
	printf '  %-30s %9s %8s %6s   %s\n' build bytes KiB glibc file
	fsize "musl-x86_64 (default)" build/musl-x86_64/im "./build.sh"
	fsize "stock (glibc, Debian mbedTLS)" build/stock/im "./build.sh --stock"
	for t in aarch64 armhf mipsel; do
		fsize "$t" "build/$t/im" "./build.sh --target $t"
	done
	listed="build/musl-x86_64/im build/stock/im build/aarch64/im build/armhf/im build/mipsel/im"
	for extra in ./im "$IM" "$IM_STOCK"; do
		[ -f "$extra" ] || continue
		dup=0
		for f in $listed; do same "$extra" "$f" && dup=1; done
		[ $dup = 0 ] && fsize "$extra" "$extra" ""
		listed="$listed $extra"
	done
	if [ -f build/musl-x86_64/im ]; then
		sz=$(wc -c <build/musl-x86_64/im)
		g=$(strings -a build/musl-x86_64/im | grep -ci glibc)
		if [ "$sz" -le 409600 ]; then v="met"; else v="NOT met, $(kib $((sz - 409600))) KiB over"; fi
		echo "  musl-x86_64: $(kib "$sz") KiB, target <= 400 KiB: $v; glibc strings: $g$([ "$g" = 0 ] || echo ' (want 0)')"
	else
		echo "  target <= 400 KiB for the stripped x86_64 musl ./im: SKIP, build/musl-x86_64/im not built"
	fi

	# ---- 2. server RSS per idle logged-in session ----
	# holdim DIR BINARY: N sessions held on BINARY as a server, each
	# logged in (pbkdf2 1000), PEER sent, two mutual contacts; figures in
	# DIR/res.
	holdim() {
		im_conf "$1"
		"$B/load" mkusers "$1/data/users" 1 $((N + 2)) 1000 benchpass1 || return 1
		start_im "$1" "$2" || return 1
		"$B/load" hold "$SPORT" login "$N" 64 1 "$SPID" 2 >"$1/res" 2>"$1/err"
		rc=$?
		stop "$SPID"
		[ $rc = 0 ] || { echo "bench: hold on $2 failed: $(tail -n 2 "$1/err" | tr '\n' ' ')"; return 1; }
	}
	RA="" RB="" RQ=""
	[ -x "$IM" ] && holdim "$FP/rss-im" "$IM" && RA=$FP/rss-im/res
	[ -x "$IM_STOCK" ] && holdim "$FP/rss-stock" "$IM_STOCK" && RB=$FP/rss-stock/res
	Q=$FP/rss-mqtt
	QWHY="not installed (apt-get install mosquitto)"
	if mosquitto_setup "$Q"; then
		QWHY="did not start (see $Q/log)"
		if mosquitto_start "$Q"; then
			QWHY="the hold failed (see $Q/err)"
			"$B/load" hold "$QPORT" mqtt "$N" 64 1 "$QPID" 2 >"$Q/res" 2>"$Q/err" && RQ=$Q/res
			stop "$QPID"
		fi
	fi
	# rssrow LABEL RES|"" WHY: before, after, delta, per session.
	rssrow() {
		if [ -z "$2" ]; then
			printf '  %-38s SKIP: %s\n' "$1" "$3"
			return
		fi
		r0=$(kv "$2" rss0_kib)
		r1=$(kv "$2" rss_kib "n=$N ")
		printf '  %-38s %9s %9s %9s %9s %7s\n' "$1" "$r0" "$r1" "$((r1 - r0))" \
			"$(kib "$(kv "$2" per_session_bytes "n=$N ")")" "$(kv "$2" live)"
	}
	per() { [ -n "$1" ] && kv "$1" per_session_bytes "n=$N "; }
	echo
	echo "Server RSS, $N idle logged-in sessions (whole process VmRSS from /proc/PID/status, KiB; per session"
	echo "= (after - before) / $N; im: LOGIN, PEER, two mutual contacts; Mosquitto: TLS P-256 + password CONNECT;"
	echo "one load generator, build/tests/load, whose TLS is im's client's (modules/tls.c: what it asks for, e.g."
	echo "small records, every server here is asked for too):"
	printf '  %-38s %9s %9s %9s %9s %7s\n' "" before after delta "/session" live
	rssrow "im (IM)" "$RA" "$IM not built"
	rssrow "im stock (IM_STOCK)" "$RB" "$IM_STOCK not built (./build.sh --stock)"
	rssrow "Mosquitto $(mosquitto_version)" "$RQ" "$QWHY"
	pa=$(per "$RA") pb=$(per "$RB") pq=$(per "$RQ")
	if [ -n "$pa" ]; then
		if awk -v a="$pa" 'BEGIN { exit !(a <= 8192) }'; then v="met"; else v="NOT met"; fi
		echo "  im per session $(kib "$pa") KiB: target <= 8 KiB at 10,000 sessions: $v$([ "$N" = 10000 ] || echo " (measured at $N)")"
		[ -n "$pq" ] && echo "  im / Mosquitto per session: $(ratio "$pa" "$pq") ($(kib "$pa") vs $(kib "$pq") KiB)"
		[ -n "$pb" ] && echo "  im / stock per session:     $(ratio "$pa" "$pb") ($(kib "$pa") vs $(kib "$pb") KiB)"
	fi

	# ---- 3. full TLS handshakes per second, both builds, A B A B ----
	# Tickets off on the server and no session offered by the client
	# (build/tests/load hs: connect, handshake, close): each one a full
	# ECDHE-ECDSA handshake. Both servers run throughout; the runs
	# alternate so that other work on the box falls on both alike.
	echo
	if [ ! -x "$IM" ]; then
		echo "Full TLS handshakes per second: SKIP, $IM not built"
		echo "raw figures: $FP"
		return 0
	fi
	H=$FP/hs
	im_conf "$H/a" "tls_tickets = no"
	start_im "$H/a" "$IM" || return 1
	PA=$SPORT PIDA=$SPID
	PB="" PIDB=""
	if [ -x "$IM_STOCK" ]; then
		im_conf "$H/b" "tls_tickets = no"
		start_im "$H/b" "$IM_STOCK" || return 1
		PB=$SPORT PIDB=$SPID
	fi
	r=1
	while [ $r -le "$HSR" ]; do
		"$B/load" rate "$PA" hs "$HSN" "$HSC" 1 "$PIDA" >"$H/a.$r" 2>"$H/a.$r.err" ||
			echo "bench: handshakes on $IM: $(tail -n 1 "$H/a.$r.err")"
		[ -n "$PB" ] && { "$B/load" rate "$PB" hs "$HSN" "$HSC" 1 "$PIDB" >"$H/b.$r" 2>"$H/b.$r.err" ||
			echo "bench: handshakes on $IM_STOCK: $(tail -n 1 "$H/b.$r.err")"; }
		r=$((r + 1))
	done
	stop "$PIDA"
	[ -n "$PIDB" ] && stop "$PIDB"
	# hsum X: "ok secs cpu_ms" summed over X's runs.
	hsum() {
		for f in "$H/$1".[0-9]*; do
			case $f in *.err) continue ;; esac
			echo "$(kv "$f" ok) $(kv "$f" secs) $(kv "$f" srv_cpu_ms_per_op)"
		done | awk '{ ok += $1; s += $2; c += $1 * $3 } END { printf "%d %.3f %.1f\n", ok, s, c }'
	}
	hrow() { # LABEL X
		set -- "$1" $(hsum "$2")
		printf '  %-30s %7s %8s %9s %10s %10s\n' "$1" "$2" "$3" \
			"$(awk -v n="$2" -v s="$3" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print "-" }')" \
			"$(awk -v n="$2" -v c="$4" 'BEGIN { if (n > 0) printf "%.3f", c / n; else print "-" }')" \
			"$(awk -v n="$2" -v c="$4" 'BEGIN { if (c > 0) printf "%.0f", 1000 * n / c; else print "-" }')"
	}
	# rounds KEY: A/B of KEY per round, then their median.
	rounds() {
		r=1
		while [ $r -le "$HSR" ]; do
			awk -v a="$(kv "$H/a.$r" "$1")" -v b="$(kv "$H/b.$r" "$1")" 'BEGIN { if (b > 0) printf "%.0f\n", 100 * a / b }'
			r=$((r + 1))
		done >"$H/rounds.$1"
		printf ' %s%%' $(cat "$H/rounds.$1")
		printf '; median %s%%\n' "$(sort -n "$H/rounds.$1" | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')"
	}
	echo "Full TLS handshakes per second (no resumption, no tickets: server tls_tickets = no, the client"
	echo "offers no session; build/tests/load: connect, handshake, close; $HSC in flight, $HSN per run,"
	echo "$HSR rounds run alternately A B A B...; the load generator shares the cores, so server CPU per"
	echo "handshake is the steadier figure; per core: handshakes one core of server CPU makes per second):"
	printf '  %-30s %7s %8s %9s %10s %10s\n' "" n secs "per sec" "srv CPU ms" "per core"
	hrow "A: im (IM)" a
	if [ -n "$PB" ]; then
		hrow "B: im stock (IM_STOCK)" b
		printf '  per round, A/B handshakes per sec:'
		rounds rate
		printf '  per round, A/B server CPU per handshake:'
		rounds srv_cpu_ms_per_op
		set -- $(hsum a) $(hsum b)
		echo "  project/stock: handshakes/s $(ratio "$(awk -v n="$1" -v s="$2" 'BEGIN { print n / s }')" \
			"$(awk -v n="$4" -v s="$5" 'BEGIN { print n / s }')")," \
			"server CPU per handshake $(ratio "$(awk -v n="$1" -v c="$3" 'BEGIN { print c / n }')" \
				"$(awk -v n="$4" -v c="$6" 'BEGIN { print c / n }')") (target, no loss: handshakes/s >= 100%, CPU <= 100%)"
	else
		echo "  B: im stock: SKIP, $IM_STOCK not built (./build.sh --stock)"
	fi
	echo "raw figures: $FP"
}
if [ "$PART" = all ] || [ "$PART" = footprint ]; then footprint_bench; fi
# ==== end of footprint ====

# ==== cluster (issue 13): three nodes (im server with [cluster] redis = a
# private redis-server on a free loopback port, no persistence) against one
# node, the same load in the same run: N sessions (default 3,000; the
# cluster's spread over the nodes, session i on node i % 3), K = 20 mutual
# contacts each (a ring: 10 neighbours either side, so 14 of the 20 are on
# another node), accounts pbkdf2 1000 (load mkusers; the cluster's through
# "im users --import"). build/tests/load mesh measures presence latency
# (PEER change -> ONLINE, LOGOUT -> OFFLINE, new login's PEER -> ONLINE at
# each contact; the cluster's counted for contacts on another node) and
# utime+stime of the im servers and of redis-server per login and per
# event. Knobs: BENCH_CLUSTER_SESSIONS (3000), BENCH_CLUSTER_REPS (events
# of each kind, 200), BENCH_CLUSTER_IDLE (seconds all sit idle, CPU
# measured, 10), BENCH_QUICK=1 (600 sessions, 50 events, 4 s idle).
cluster_bench() {
	B=$TOP/build/tests
	IM=${IM:-$TOP/im}
	CT=$(mktemp -d "$TOP/tests/tmp/bench-cluster.XXXXXX")
	BPIDS=""
	trap 'for p in $BPIDS; do kill "$p" 2>/dev/null; done' EXIT INT TERM
	N=${BENCH_CLUSTER_SESSIONS:-3000}
	REPS=${BENCH_CLUSTER_REPS:-200}
	IDLE=${BENCH_CLUSTER_IDLE:-10}
	K=20
	if [ "${BENCH_QUICK:-0}" = 1 ]; then
		N=600 REPS=50 IDLE=4
	fi
	echo
	echo "== cluster: $(nproc) cores, loopback, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg) =="
	if ! command -v redis-server >/dev/null 2>&1; then
		echo "cluster: SKIP, redis-server is not installed (./build.sh deps installs it)"
		return 0
	fi
	printf '[cluster]\nredis = 127.0.0.1:1\n' >"$CT/probe.conf"
	if "$IM" server -n -c "$CT/probe.conf" 2>&1 | grep -q 'built without cluster'; then
		echo "cluster: SKIP, $IM was built without cluster mode (CLUSTER=no)"
		return 0
	fi
	N=$(raise_nofile "$N" 300)
	IM_MAXC=$((N + 1000))
	"$B/load" mkusers "$CT/users" 1 "$N" 1000 benchpass1 || return 1

	# ---- one node, no Redis ----
	im_conf "$CT/one"
	cp "$CT/users" "$CT/one/data/users"
	start_im "$CT/one" || return 1
	"$B/load" mesh "$SPORT" "$N" "$K" "$REPS" 1 "$SPID" 0 "$IDLE" >"$CT/one.res" 2>"$CT/one.err" ||
		echo "bench: one node: $(tail -n 2 "$CT/one.err" | tr '\n' ' ')"
	stop "$SPID"

	# ---- Redis (a free port, no persistence), three nodes ----
	RPID="" RPORT=""
	for _ in 1 2 3 4 5; do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		: >"$CT/redis.log"
		redis-server --bind 127.0.0.1 --port "$p" --save '' --appendonly no --daemonize no --dir "$CT" \
			--logfile '' >"$CT/redis.log" 2>&1 &
		RPID=$!
		BPIDS="$BPIDS $RPID"
		i=0
		while [ $i -lt 100 ] && kill -0 "$RPID" 2>/dev/null; do
			grep -q 'Ready to accept connections' "$CT/redis.log" && { RPORT=$p; break; }
			sleep 0.05
			i=$((i + 1))
		done
		[ -n "$RPORT" ] && break
		stop "$RPID"
	done
	[ -n "$RPORT" ] || { echo "bench: redis-server did not start: $(tail -n 2 "$CT/redis.log")"; return 1; }
	RVER=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
	for n in 1 2 3; do
		im_conf "$CT/n$n" "[cluster]" "redis = 127.0.0.1:$RPORT" "node_id = n$n"
	done
	"$IM" users -c "$CT/n1/im.conf" --import "$CT/users" >"$CT/import.out" 2>&1 ||
		{ echo "bench: im users --import failed: $(tail -n 2 "$CT/import.out")"; return 1; }
	CPORTS="" CPIDS=""
	for n in 1 2 3; do
		start_im "$CT/n$n" || return 1
		CPORTS="$CPORTS${CPORTS:+,}$SPORT" CPIDS="$CPIDS${CPIDS:+,}$SPID"
	done
	"$B/load" mesh "$CPORTS" "$N" "$K" "$REPS" 1 "$CPIDS" "$RPID" "$IDLE" >"$CT/three.res" 2>"$CT/three.err" ||
		echo "bench: three nodes: $(tail -n 2 "$CT/three.err" | tr '\n' ' ')"
	for p in $(echo "$CPIDS" | tr ',' ' ') "$RPID"; do stop "$p"; done

	# ---- the table ----
	O=$CT/one.res C=$CT/three.res
	# crow LABEL KEY-ONE KEY-CLUSTER LINE-PATTERN: one node, 3 nodes, ratio
	crow() {
		a=$(kv "$O" "$2" "$4") b=$(kv "$C" "$3" "$4")
		printf '  %-46s %10s %10s %8s\n' "$1" "${a:--}" "${b:--}" "$(ratio "$b" "$a")"
	}
	# extra LABEL KEY-SRV KEY-REDIS LINE-PATTERN: (cluster im + redis) - one node
	extra() {
		printf '  %-46s %s ms (%s ms im + %s ms redis - %s ms one node)\n' "$1" \
			"$(awk -v s="$(kv "$C" "$2" "$4")" -v r="$(kv "$C" "$3" "$4")" -v o="$(kv "$O" "$2" "$4")" \
				'BEGIN { printf "%.3f", s + r - o }')" "$(kv "$C" "$2" "$4")" "$(kv "$C" "$3" "$4")" "$(kv "$O" "$2" "$4")"
	}
	echo "Presence across nodes: $N sessions, $K mutual contacts each (a ring), pbkdf2 1000; one node (no Redis)"
	echo "against 3 nodes + redis-server ${RVER:-?} (session i on node i % 3), all on this machine, in one run;"
	echo "$REPS events of each kind, one at a time, timed until every contact has read the line. Latency: one"
	echo "node, every contact; 3 nodes, the contacts on another node than the event's (cross-node):"
	printf '  %-46s %10s %10s %8s\n' "" "one node" "3 nodes" "3/one"
	crow "logins per second (64 in flight)" rate rate "^login "
	crow "PEER change -> ONLINE, p50 ms" all_p50_ms cross_p50_ms "^peer "
	crow "PEER change -> ONLINE, p99 ms" all_p99_ms cross_p99_ms "^peer "
	crow "LOGOUT -> OFFLINE, p50 ms" all_p50_ms cross_p50_ms "^offline "
	crow "LOGOUT -> OFFLINE, p99 ms" all_p99_ms cross_p99_ms "^offline "
	crow "new login (its PEER) -> ONLINE, p50 ms" all_p50_ms cross_p50_ms "^online "
	crow "new login (its PEER) -> ONLINE, p99 ms" all_p99_ms cross_p99_ms "^online "
	echo "  3 nodes, contacts on the event's own node: PEER p50/p99 $(kv "$C" same_p50_ms "^peer ")/$(kv "$C" same_p99_ms "^peer ") ms," \
		"OFFLINE $(kv "$C" same_p50_ms "^offline ")/$(kv "$C" same_p99_ms "^offline ") ms," \
		"login $(kv "$C" same_p50_ms "^online ")/$(kv "$C" same_p99_ms "^online ") ms"
	echo "Server CPU (utime+stime from /proc; im: all server processes; the login phase includes the"
	echo "ONLINEs it causes, 20 per session):"
	printf '  %-46s %10s %10s %8s\n' "" "one node" "3 nodes" "3/one"
	crow "im CPU ms per login" srv_cpu_ms_per_login srv_cpu_ms_per_login "^login "
	crow "redis-server CPU ms per login" redis_cpu_ms_per_login redis_cpu_ms_per_login "^login "
	crow "im CPU ms per PEER change ($K contacts)" srv_cpu_ms_per_event srv_cpu_ms_per_event "^peer "
	crow "redis-server CPU ms per PEER change" redis_cpu_ms_per_event redis_cpu_ms_per_event "^peer "
	crow "im CPU ms per LOGOUT + new login" srv_cpu_ms_per_cycle srv_cpu_ms_per_cycle "^cycle "
	crow "redis-server CPU ms per LOGOUT + new login" redis_cpu_ms_per_cycle redis_cpu_ms_per_cycle "^cycle "
	crow "im CPU ms per second, all $N idle" srv_cpu_ms_per_s srv_cpu_ms_per_s "^idle "
	crow "redis-server CPU ms per second, all idle" redis_cpu_ms_per_s redis_cpu_ms_per_s "^idle "
	echo "  what the cluster adds (3 nodes' im + redis - one node):"
	extra "  per login" srv_cpu_ms_per_login redis_cpu_ms_per_login "^login "
	extra "  per presence event (PEER change)" srv_cpu_ms_per_event redis_cpu_ms_per_event "^peer "
	extra "  per LOGOUT + new login" srv_cpu_ms_per_cycle redis_cpu_ms_per_cycle "^cycle "
	extra "  per second, all idle" srv_cpu_ms_per_s redis_cpu_ms_per_s "^idle "
	echo "  ONLINEs delivered in the login phase: one node $(kv "$O" online "^login ") of $((N * K))," \
		"3 nodes $(kv "$C" online "^login ") of $((N * K)); sessions live at the end: $(kv "$O" live "^cycle ")," \
		"$(kv "$C" live "^cycle ") of $N"
	echo "raw figures: $CT"
}
if [ "$PART" = all ] || [ "$PART" = cluster ]; then cluster_bench; fi
# ==== end of cluster ====
