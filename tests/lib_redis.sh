# lib_redis.sh: a private redis-server for the cluster tests (sourced after
# lib.sh): loopback only, a free port, no persistence, its files in $T.
#   have_redis            0 when redis-server and redis-cli are installed
#   redis_start [ARGS..]  starts one (extra redis-server ARGS, e.g.
#                         --requirepass PW); sets REDIS_PORT (kept across
#                         restarts: a second call reuses it) and REDIS_PID;
#                         returns 1 if it never got ready
#   rcli ARGS...          redis-cli against it ($REDIS_AUTH: -a PW)
#   redis_kill [SIG]      stops it (default KILL) and waits for its end
REDIS_PORT=""
REDIS_PID=""
REDIS_AUTH=""

have_redis() {
	command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}

# a random port in 20000..59999 (no $RANDOM in POSIX sh)
redis_rand_port() {
	echo $((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
}

redis_start() {
	_rtries=0
	while [ $_rtries -lt 8 ]; do
		_rtries=$((_rtries + 1))
		_rport=${REDIS_PORT:-$(redis_rand_port)}
		_rlog=$T/redis-$_rport.log
		: >"$_rlog"
		redis-server --bind 127.0.0.1 --port "$_rport" --save '' --appendonly no --daemonize no \
			--dir "$T" --logfile '' "$@" >>"$_rlog" 2>&1 &
		REDIS_PID=$!
		PIDS="$PIDS $REDIS_PID"
		_ri=0
		while [ $_ri -lt 200 ] && alive "$REDIS_PID"; do
			if grep -q 'Ready to accept connections' "$_rlog"; then
				REDIS_PORT=$_rport
				return 0
			fi
			sleep 0.05
			_ri=$((_ri + 1))
		done
		kill -KILL "$REDIS_PID" 2>/dev/null
		wait "$REDIS_PID" 2>/dev/null
		# a fixed port (a restart) that is busy: wait and try it again;
		# a random one: another
		[ -n "$REDIS_PORT" ] && sleep 0.5
	done
	return 1
}

rcli() {
	# shellcheck disable=SC2086 # REDIS_AUTH is "" or "-a PW"
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" $REDIS_AUTH --no-auth-warning "$@"
}

redis_kill() {
	[ -n "$REDIS_PID" ] || return 0
	kill "-${1:-KILL}" "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=""
}
