# lib_server.sh: helpers for the t_server*.sh tests (sourced after lib.sh).
# A server runs from a config written here; test clients are build/tests/imtc
# processes that follow an input file ($T/ID.in, appended to by `say`) and
# write what the server sends to $T/ID.out.
IMTC=${IMTC:-$TOP/build/tests/imtc}
KEYA=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
KEYB=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
KEYC=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
KEYD=dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
SYNC=0

# alive PID: the process runs (a zombie, not yet waited for, does not).
alive() {
	[ -r "/proc/$1/stat" ] && ! sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# srv_conf FILE [LINE...]: a [server] section for loopback, port 0 and fast
# hashing, plus the given lines.
srv_conf() {
	f=$1
	shift
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s/data\n' "$T"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$f"
}

# srv_start CONF LOG [ARGS...]: starts the server, waits for its readiness
# line; sets SRV_PID and PORT. Returns 1 if it never got ready.
srv_start() {
	c=$1 lg=$2
	shift 2
	: >"$lg"
	"$IM" server -c "$c" "$@" 2>"$lg" &
	SRV_PID=$!
	PIDS="$PIDS $SRV_PID"
	PORT=""
	wait_for "$lg" 'listening on [^ ]*:[0-9]+' 10 || return 1
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$lg" | head -n 1)
	[ -n "$PORT" ]
}

# srv_key [HOST]: the key (hex fingerprint) that a new TLS connection to
# the server at HOST (default 127.0.0.1) port $PORT is shown; empty if none.
# Compare it with `im server --fingerprint` of the key file, e.g. to prove
# that SIGHUP really swapped the certificate.
srv_key() {
	echo '!quit' | "$IMTC" -k -w 10 "${1:-127.0.0.1}" "$PORT" 2>/dev/null | sed -n 's/^\*key //p' | head -n 1
}

# srv_stop NAME: SIGTERM; passes NAME when the server exits 0 within 10 s.
srv_stop() {
	kill -TERM "$SRV_PID" 2>/dev/null
	i=0
	while alive "$SRV_PID" && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if alive "$SRV_PID"; then
		kill -KILL "$SRV_PID" 2>/dev/null
		fail "$1" "server still running 10 s after SIGTERM"
		return 1
	fi
	wait "$SRV_PID"
	rc=$?
	if [ $rc -eq 0 ]; then pass "$1"; else fail "$1" "server exited $rc after SIGTERM"; fi
}

# cl ID [IMTC-OPTIONS...]: starts test client ID against 127.0.0.1:$PORT.
cl() {
	id=$1
	shift
	: >"$T/$id.in"
	: >"$T/$id.out"
	"$IMTC" -w 40 -i "$T/$id.in" "$@" 127.0.0.1 "$PORT" >"$T/$id.out" 2>&1 &
	eval "PID_$id=$!"
	PIDS="$PIDS $!"
}

# say ID LINE...: sends each LINE from client ID.
say() {
	id=$1
	shift
	for l in "$@"; do printf '%s\n' "$l" >>"$T/$id.in"; done
}

# seen ID PATTERN [SECONDS]: waits until client ID received PATTERN.
seen() { wait_for "$T/$1.out" "$2" "${3:-5}"; }

# expect NAME ID PATTERN [SECONDS]: passes NAME once ID received PATTERN.
expect() {
	if seen "$2" "$3" "${4:-5}"; then pass "$1"; else
		fail "$1" "$2 never got /$3/; got: $(tail -n 5 "$T/$2.out" | tr '\n' '|')"; fi
}

# seen_new ID PATTERN [SECONDS]: like seen, but only lines after
# `mark "$T/ID.out"` count.
seen_new() { wait_new "$T/$1.out" "$2" "${3:-5}"; }

# expect_new NAME ID PATTERN [SECONDS]: like expect, after the mark.
expect_new() {
	if seen_new "$2" "$3" "${4:-5}"; then pass "$1"; else
		fail "$1" "$2 never got /$3/ after the mark; since: $(new_lines "$T/$2.out" | tail -n 5 | tr '\n' '|')"; fi
}

# sync ID: a PING round trip, so everything the server sent ID before it
# has arrived. Returns 1 if the PONG never came.
sync() {
	SYNC=$((SYNC + 1))
	say "$1" "PING sync$SYNC"
	seen "$1" "^PONG sync$SYNC\$"
}

# count ID PATTERN: how many lines client ID received that match PATTERN.
count() { grep -Ec -- "$2" "$T/$1.out"; }

# lacks NAME ID PATTERN: after a sync, ID has not received PATTERN.
lacks() {
	if ! sync "$2"; then
		fail "$1" "$2 did not answer PING"
	elif grep -Eq -- "$3" "$T/$2.out"; then
		fail "$1" "$2 got /$3/: $(grep -E -- "$3" "$T/$2.out" | head -n 2 | tr '\n' '|')"
	else
		pass "$1"
	fi
}

# signup ID NAME [PEER-PORT KEY]: client ID signs up as NAME (password
# NAME-pw) and, given a port, sends PEER. Returns 1 on failure.
signup() {
	cl "$1"
	say "$1" "SIGNUP $2 $2-pw"
	seen "$1" "^OK $2\$" || return 1
	[ $# -lt 4 ] && return 0
	say "$1" "PEER $3 $4"
	sync "$1"
}

# login ID NAME [PEER-PORT KEY]: the same with LOGIN.
login() {
	cl "$1"
	say "$1" "LOGIN $2 $2-pw"
	seen "$1" "^OK $2\$" || return 1
	[ $# -lt 4 ] && return 0
	say "$1" "PEER $3 $4"
	sync "$1"
}

# gone ID [SECONDS]: waits until client ID's process has ended.
gone() {
	eval "p=\$PID_$1"
	i=0
	lim=$((${2:-5} * 20))
	while alive "$p" && [ $i -lt $lim ]; do
		sleep 0.05
		i=$((i + 1))
	done
	! alive "$p"
}
