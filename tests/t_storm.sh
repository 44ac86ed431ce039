#!/bin/sh
# t_storm: the reconnect-storm benchmark's driver (tests/bench/storm.c) on a
# small storm against the real server, so the benchmark cannot rot: N
# clients log in, the server is restarted (SIGTERM, exit, start on the
# same port), every client must be back. With a server that sends TOKEN,
# every reconnect must be a RESUME that succeeds (tokens survive the
# restart); with TLS session tickets, every handshake must be resumed
# (read from mbedTLS, not assumed). A server without them SKIPs those two.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
STORM=$TOP/build/tests/storm
LOAD=$TOP/build/tests/load
N=40

need storm_tools [ -x "$STORM" ] && [ -x "$LOAD" ]

# conf DIR: loopback on a fixed port (a restart comes back where the
# clients look); every client shares 127.0.0.1, so the per-address limits
# are raised (a login counts as failed until it succeeds).
SPORT=$((20000 + ($$ * 7) % 10000))
conf() {
	mkdir -p "$1/data"
	{
		printf '[server]\nlisten = 127.0.0.1\nport = %s\ndata_dir = %s/data\n' "$SPORT" "$1"
		printf 'max_unauth_per_ip = 500\nmax_connections_per_ip = 500\nmax_failures_per_ip = 500\n'
	} >"$1/im.conf"
}
# storm OUT DIR ARGS...: the storm, on the next port if this one is taken.
storm() {
	out=$1 d=$2
	shift 2
	for try in 1 2 3 4 5; do
		conf "$d"
		"$STORM" -t 120 -l "$d" "$@" im "$SPORT" "$N" 1 -- "$IM" server -c "$d/im.conf" >"$out" 2>"$out.err"
		rc=$?
		[ $rc = 3 ] || return $rc
		SPORT=$((SPORT + 1))
	done
	return $rc
}
kv() { grep -- "^$3 " "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# 1. the storm as a real client makes it: first reconnect after 100-500 ms
D=$T/s1
mkdir -p "$D/data"
need users "$LOAD" mkusers "$D/data/users" 1 "$N" 1000 benchpass1
storm "$T/s1.out" "$D" -j 100-500
rc=$?
back=$(kv "$T/s1.out" back storm)
if [ $rc = 0 ] && [ "$back" = "$N" ]; then
	pass storm_all_back
else
	fail storm_all_back "exit $rc, back ${back:-?} of $N: $(cat "$T/s1.out" "$T/s1.out.err" | tr '\n' ' ' | head -c 400)"
fi
for g in 1 2; do
	grep -q "listening on" "$D/server-$g.log" 2>/dev/null ||
		fail storm_server_$g "server $g never listened: $(head -c 300 "$D/server-$g.log" 2>/dev/null)"
done

tokens=$(kv "$T/s1.out" tokens setup)
if [ "${tokens:-0}" = 0 ]; then
	skip storm_resume "this server sends no TOKEN after OK"
elif [ "$tokens" = "$N" ] && [ "$(kv "$T/s1.out" resume_ok storm)" = "$N" ] &&
	[ "$(kv "$T/s1.out" login_ok storm)" = 0 ] && [ "$(kv "$T/s1.out" fallback storm)" = 0 ]; then
	pass storm_resume
else
	fail storm_resume "tokens $tokens of $N; after the restart: $(grep '^storm ' "$T/s1.out" | head -c 300)"
fi

tickets=$(kv "$T/s1.out" tickets setup)
if [ "${tickets:-0}" = 0 ]; then
	skip storm_tls_resumed "this server issues no TLS session tickets"
elif [ "$tickets" = "$N" ] && [ "$(kv "$T/s1.out" tls_resumed storm)" = "$N" ]; then
	pass storm_tls_resumed
else
	fail storm_tls_resumed "tickets $tickets of $N; after the restart: $(grep '^storm ' "$T/s1.out" | head -c 300)"
fi

# 2. -p: the password storm never offers a token or a TLS session
D=$T/s2
mkdir -p "$D/data"
need users2 "$LOAD" mkusers "$D/data/users" 1 "$N" 1000 benchpass1
storm "$T/s2.out" "$D" -p
rc=$?
if [ $rc = 0 ] && [ "$(kv "$T/s2.out" back storm)" = "$N" ] && [ "$(kv "$T/s2.out" login_ok storm)" = "$N" ] &&
	[ "$(kv "$T/s2.out" tls_resumed storm)" = 0 ] && [ "$(kv "$T/s2.out" resume_ok storm)" = 0 ]; then
	pass storm_password_only
else
	fail storm_password_only "exit $rc: $(cat "$T/s2.out" "$T/s2.out.err" | tr '\n' ' ' | head -c 400)"
fi
