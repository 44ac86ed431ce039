#!/bin/sh
# t_nat: messages across simulated NATs (issue 11). A simulated internet in
# network namespaces this test makes and removes (tests/lib_nat.sh): the
# server and public hosts on 203.0.113.0/24, home routers with nftables
# masquerade and a home router's firewall, hosts behind them on
# 192.0.2.0/24 and 198.51.100.0/24 (in lan_nets, as these documentation
# ranges are not RFC 1918). Real `im server` and `im client --batch`
# processes in the namespaces; in each scenario messages go both ways and
# both sides' `path NAME HOW` events are checked:
#   1 public:   both public                      -> direct
#   2 dials:    A behind NAT, B public, A starts -> direct (A dials B)
#   3 called:   A behind NAT, B public, B starts -> reverse (B CALLs A)
#   4 punch:    A and B behind port-preserving NATs -> punched
#   4b punchrej: the same behind routers that answer an unsolicited SYN
#               from the WAN with an ICMP port unreachable, not silence ->
#               punched: the side that dialed first is refused at once,
#               its mapping stays, and the other's SYN lands on its
#               listener, not on a punch socket; that is still the punch,
#               with the TLS roles set by name (both orders of the names)
#   5 samenat:  A and B behind the same NAT      -> lan
#   6 random:   both behind `masquerade random` NATs -> `failed ...
#               unreachable` within 4 x connect_timeout + slack, and the
#               clients still answer
#   7 expire:   A behind a NAT whose mapping expires while the conversation
#               is idle: B's next message fails `timeout` (the ACK timeout
#               closes the dead connection), the one after goes through the
#               ladder again (reverse) and the conversation carries on;
#               idle again, then A speaks first: the same, by a direct dial.
# The time to first message (from the msg command to its `sent`) of each
# path is printed: "t_nat: time to first message: ...".
# Where namespaces or nftables cannot be made, every scenario is a SKIP.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_nat.sh"

SCENARIOS="public dials called punch punchrej samenat random expire"
CT=2  # connect_timeout of the clients (and so their ACK timeout)
RT=1  # reach_timeout of the server
EXP=5 # nf_conntrack_tcp_timeout_established of the expiring router
# A message's fate is known within 4 stages of connect_timeout; the slack
# is for a loaded machine.
BOUND=$((4 * CT + 5))
LAN_NETS="192.0.2.0/24 198.51.100.0/24"

trap 'nat_cleanup; cleanup' EXIT
trap 'exit 1' INT TERM HUP
# A client that died (a crash is reported by no_crash) must not take the
# script with it: a command written to its input fails, nothing more.
trap '' PIPE

nat_stale
if ! nat_can; then
	for s in $SCENARIOS; do skip "nat_$s" "$NAT_WHY"; done
	exit 0
fi

# --- the simulated internet ---
# p1 p2: public hosts. r1 r2: port-preserving NATs (a1 a2 behind r1, b1
# behind r2); r6 r7: the same, refusing unsolicited SYNs (f1, g1). r3 r4: randomising NATs (c1, c2). r5: a port-preserving NAT
# whose idle mappings expire after EXP seconds (e1).
need internet nat_internet
need public_p1 nat_public p1 203.0.113.11
need public_p2 nat_public p2 203.0.113.12
need router_r1 nat_router r1 203.0.113.21 192.0.2.1/26 keep
need router_r2 nat_router r2 203.0.113.22 192.0.2.65/26 keep
need router_r3 nat_router r3 203.0.113.23 198.51.100.1/26 random
need router_r4 nat_router r4 203.0.113.24 198.51.100.65/26 random
need router_r5 nat_router r5 203.0.113.25 192.0.2.129/26 keep
need router_r6 nat_router r6 203.0.113.26 198.51.100.129/26 keep reject
need router_r7 nat_router r7 203.0.113.27 198.51.100.193/26 keep reject
# Their conntrack does not check TCP sequence windows (as many home
# routers): the listener's SYN-ACK to the other side's SYN has sequence
# numbers of its own, not those of this side's refused SYN, and a strict
# conntrack marks the connection's data invalid.
need liberal_r6 nat_sysctl r6 net.netfilter.nf_conntrack_tcp_be_liberal 1
need liberal_r7 nat_sysctl r7 net.netfilter.nf_conntrack_tcp_be_liberal 1
need expiring_r5 nat_sysctl r5 net.netfilter.nf_conntrack_tcp_timeout_established $EXP
need host_a1 nat_host a1 r1 192.0.2.10/26 192.0.2.1
need host_a2 nat_host a2 r1 192.0.2.11/26 192.0.2.1
need host_b1 nat_host b1 r2 192.0.2.74/26 192.0.2.65
need host_c1 nat_host c1 r3 198.51.100.10/26 198.51.100.1
need host_c2 nat_host c2 r4 198.51.100.74/26 198.51.100.65
need host_e1 nat_host e1 r5 192.0.2.138/26 192.0.2.129
need host_f1 nat_host f1 r6 198.51.100.138/26 198.51.100.129
need host_g1 nat_host g1 r7 198.51.100.202/26 198.51.100.193
# The topology itself: a host behind r1 goes out through r1 (that the
# server sees it at r1's WAN address is checked with each pair).
need route_out nat_in a1 sh -c 'ip route get 203.0.113.1 | grep -q "via 192.0.2.1"'

# --- the server, in the internet namespace ---
# Keys a binary before issue 11 does not know are left out (the scenarios
# that need them fail); lan_nets is then a FAIL of its own, named.
SX="" CX=""
if nat_knows server lan_nets "$LAN_NETS"; then
	SX="lan_nets = $LAN_NETS"
	CX="lan_nets = $LAN_NETS"
else
	fail nat_lan_nets "$IM does not know the lan_nets key: hosts on 192.0.2.0/24 and 198.51.100.0/24 cannot announce a LAN address"
fi
RX=""
nat_knows server reach_timeout $RT && RX="reach_timeout = $RT"
{
	printf '[server]\nlisten = 203.0.113.1\nport = 5190\ndata_dir = %s/data\n' "$T"
	printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\nmax_signups_per_ip = 100\nlog_level = debug\n'
	printf 'keepalive_timeout = 10\n%s\n%s\n' "$SX" "$RX"
} >"$T/s.conf"
: >"$T/s.log"
ip netns exec "$(nat_ns i)" "$IM" server -c "$T/s.conf" 2>"$T/s.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
PIDS="$PIDS $!"
if ! wait_for "$T/s.log" 'listening on 203\.0\.113\.1:5190' 15; then
	fail nat_server_start "no readiness line: $(tail -n 3 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi

# nat_conf ID: a [client] section for the server at 203.0.113.1.
nat_conf() {
	{
		printf '[client]\nserver = 203.0.113.1\nserver_port = 5190\nstate_dir = %s/%s\n' "$T" "$1"
		printf 'ping_interval = 1\nconnect_timeout = %s\nlog_level = debug\n%s\n' "$CT" "$CX"
	} >"$T/$1.conf"
}

# diag ID: the last lines of client ID's events and log, for a FAIL.
diag() {
	echo "events: $(tail -n 4 "$T/$1.out" | tr '\n' '|') log: $(tail -n 4 "$T/$1.err" | tr '\n' '|')"
}

# pair SC A NSA IPA REACHA B NSB IPB REACHB: starts clients A (in
# namespace NSA) and B, signs them up and makes them contacts; both must
# see the other online at the address the server observed (IPA, IPB: the
# router's WAN address for a host behind a NAT, which proves the NAT is
# there). With a 1.1 server each then waits for its own reachability
# (the server's probe through the NAT): REACHA/REACHB, "reachable" or "not
# reachable" as the client logs it. Returns 1 (after a FAIL) if any of that
# did not happen.
pair() {
	sc=$1 A=$2 B=$6
	nat_conf "$A"
	nat_conf "$B"
	mark "$T/$A.err" "$T/$B.err"
	nat_cli_start "$A" "$3" 3
	nat_cli_start "$B" "$7" 4
	tell "$A" "signup $A $A-pw" "add $B"
	tell "$B" "signup $B $B-pw" "add $A"
	if ! got "$A" "^ready $A\$" 20 || ! got "$B" "^ready $B\$" 20; then
		fail "setup_nat_${sc}_ready" "$A: $(diag "$A") $B: $(diag "$B")"
		return 1
	fi
	ipre_b=$(echo "$8" | sed 's/\./\\./g') ipre_a=$(echo "$4" | sed 's/\./\\./g')
	if ! got "$A" "^online $B $ipre_b [0-9]+\$" 20 || ! got "$B" "^online $A $ipre_a [0-9]+\$" 20; then
		fail "setup_nat_${sc}_online" "wanted $A at $4 and $B at $8: $A: $(diag "$A") $B: $(diag "$B")"
		return 1
	fi
	reach "$A" "$5" || return 1
	reach "$B" "$9" || return 1
	# the contact's REACH is sent with the prober's own
	sleep 0.3
	return 0
}

# reach ID STATE: with a 1.1 server, waits until client ID logs its own
# reachability and checks it is STATE (the client's words: "reachable" or
# "not reachable"); with a version-1 server, nothing to wait for.
reach() {
	if ! wait_new "$T/$1.err" 'speaks protocol (1 only|1\.1)' 10; then
		fail "setup_nat_${sc}_$1_version" "$1 never logged which protocol the server speaks: $(diag "$1")"
		return 1
	fi
	new_lines "$T/$1.err" | grep -q 'speaks protocol 1 only' && return 0
	if ! wait_new "$T/$1.err" 'our peer port is (reachable|not reachable) at' $((RT + 10)); then
		fail "setup_nat_${sc}_$1_reach" "$1 never logged the result of its reachability probe: $(diag "$1")"
		return 1
	fi
	said=$(new_lines "$T/$1.err" | sed -n 's/.*our peer port is \(reachable\|not reachable\) at.*/\1/p' | tail -n 1)
	st=closed
	[ "$2" = reachable ] && st=open
	if [ "$said" = "$2" ]; then
		pass "nat_${sc}_$1_probe_$st"
	else
		fail "nat_${sc}_$1_probe_$st" "wanted the server's probe to find $1 $2, it logged '$said': $(diag "$1")"
		return 1
	fi
}

# unpair A B: ends both clients (end of input) and waits for them.
unpair() {
	cli_eof "$1"
	cli_eof "$2"
	cli_wait "$1" 15 || fail "nat_${sc}_quit" "$1 still running 15 s after end of input"
	cli_wait "$2" 15 || fail "nat_${sc}_quit" "$2 still running 15 s after end of input"
}

# send SC FROM TO TEXT: FROM sends TEXT to TO; passes nat_SC_FROM_sent when
# FROM prints `sent` (within BOUND) and nat_SC_TO_received when TO prints
# the message. Sets SECS to the time from the command to `sent` (empty on
# failure). Returns 1 if it was not sent.
send() {
	s=$1 f=$2 to=$3 txt=$4
	SECS=""
	mark "$T/$f.out" "$T/$to.out"
	t0=$(nat_now)
	tell "$f" "msg $to $txt"
	if ! got_new "$f" "^(sent|failed) $to " $BOUND || ! new_lines "$T/$f.out" | grep -q "^sent $to "; then
		fail "nat_${s}_${f}_sent" "no 'sent $to' within ${BOUND}s: $(diag "$f")"
		return 1
	fi
	t1=$(nat_ts_new "$f" "^sent $to ")
	SECS=$(nat_secs "$t0" "$t1")
	pass "nat_${s}_${f}_sent"
	want_new "nat_${s}_${to}_received" "$to" "^msg $f [^ ]+ $txt\$" 5
	return 0
}

# paths SC A B HOW: both sides printed `path OTHER HOW` (after the mark).
paths() {
	want_new "nat_${1}_${2}_path_$4" "$2" "^path $3 $4\$" 5
	want_new "nat_${1}_${3}_path_$4" "$3" "^path $2 $4\$" 5
}

# talk SC A B HOW: A starts (first message, its path on both sides), then B
# answers over the same conversation. Records the time to first message.
talk() {
	if send "$1" "$2" "$3" "hello from $2 to $3"; then
		TIMES="$TIMES $1:$4:$SECS"
		paths "$1" "$2" "$3" "$4"
	else
		for x in "$2" "$3"; do fail "nat_${1}_${x}_path_$4" "no conversation"; done
	fi
	if send "$1" "$3" "$2" "answer from $3 to $2"; then
		# the answer took the conversation that is open: no new path
		if { new_lines "$T/$2.out"; new_lines "$T/$3.out"; } | grep -q '^path '; then
			fail "nat_${1}_one_conversation" "the answer opened another connection: $({ new_lines "$T/$2.out"; new_lines "$T/$3.out"; } | grep '^path ' | tr '\n' '|')"
		else
			pass "nat_${1}_one_conversation"
		fi
	fi
}

TIMES=""

# 1: both public -> direct
if pair public s1a p1 203.0.113.11 reachable s1b p2 203.0.113.12 reachable; then
	talk public s1a s1b direct
fi
unpair s1a s1b

# 2: A behind a NAT, B public, A starts -> direct
if pair dials s2a a1 203.0.113.21 "not reachable" s2b p1 203.0.113.11 reachable; then
	talk dials s2a s2b direct
fi
unpair s2a s2b

# 3: A behind a NAT, B public, B starts -> reverse
if pair called s3a a1 203.0.113.21 "not reachable" s3b p2 203.0.113.12 reachable; then
	talk called s3b s3a reverse
fi
unpair s3a s3b

# 4: both behind port-preserving NATs -> punched
if pair punch s4a a1 203.0.113.21 "not reachable" s4b b1 203.0.113.22 "not reachable"; then
	talk punch s4a s4b punched
fi
unpair s4a s4b

# 4b: both behind port-preserving NATs that refuse an unsolicited SYN ->
# punched; both orders of the names (the smaller one is the TLS client)
if pair punchrej s8a f1 203.0.113.26 "not reachable" s8b g1 203.0.113.27 "not reachable"; then
	talk punchrej s8a s8b punched
fi
unpair s8a s8b
if pair punchrej2 s9b f1 203.0.113.26 "not reachable" s9a g1 203.0.113.27 "not reachable"; then
	talk punchrej2 s9b s9a punched
fi
unpair s9b s9a

# 5: both behind the same NAT -> lan
if pair samenat s5a a1 203.0.113.21 "not reachable" s5b a2 203.0.113.21 "not reachable"; then
	talk samenat s5a s5b lan
fi
unpair s5a s5b

# 6: both behind randomising NATs -> failed unreachable, bounded, no hang
# noreach FROM TO: FROM's message fails `unreachable`, not sooner than one
# connect_timeout (a punch was tried) and within BOUND.
noreach() {
	f=$1 to=$2
	mark "$T/$f.out" "$T/$to.out" "$T/s.log"
	t0=$(nat_now)
	tell "$f" "msg $to can you hear me"
	if ! got_new "$f" "^(sent|failed) $to " $((BOUND + 5)); then
		fail "nat_random_${f}_unreachable" "no sent/failed within $((BOUND + 5))s: $(diag "$f")"
		return
	fi
	t1=$(nat_ts_new "$f" "^(sent|failed) $to ")
	secs=$(nat_secs "$t0" "$t1")
	line=$(new_lines "$T/$f.out" | grep -E -m 1 "^(sent|failed) $to ")
	if ! echo "$line" | grep -Eq "^failed $to [^ ]+ unreachable\$"; then
		fail "nat_random_${f}_unreachable" "wanted 'failed $to ID unreachable', got '$line' after ${secs}s: $(diag "$f")"
	elif awk -v s="$secs" -v b="$BOUND" -v c="$CT" 'BEGIN { exit !(s > b || s < c - 0.3) }'; then
		fail "nat_random_${f}_unreachable" "'$line' after ${secs}s, wanted between $CT and ${BOUND}s (4 x connect_timeout + slack)"
	else
		pass "nat_random_${f}_unreachable"
		TIMES="$TIMES random-${f}:failed-unreachable:$secs"
	fi
	if new_lines "$T/$to.out" | grep -q "^msg $f "; then
		fail "nat_random_${to}_nothing" "the message arrived although reported failed"
	fi
	# every path was tried: the last one, the punch, went through the
	# server (its debug log)
	if new_lines "$T/s.log" | grep -q "PUNCH from $f to $to"; then
		pass "nat_random_${f}_punch_tried"
	else
		fail "nat_random_${f}_punch_tried" "the server relayed no PUNCH from $f to $to before the failure"
	fi
	# still answering: `who` lists the contact at once
	mark "$T/$f.out"
	tell "$f" "who"
	want_new "nat_random_${f}_answers" "$f" "^online $to " 5
}
if pair random s6a c1 203.0.113.23 "not reachable" s6b c2 203.0.113.24 "not reachable"; then
	noreach s6a s6b
	noreach s6b s6a
fi
unpair s6a s6b

# 7: a NAT mapping expires while the conversation is idle
if pair expire s7a e1 203.0.113.25 "not reachable" s7b p2 203.0.113.12 reachable; then
	talk expire s7a s7b direct
	# idle past the router's established timeout; the server connection
	# (a PING a second) keeps its own mapping
	sleep $((EXP + 3))
	mark "$T/s7b.out" "$T/s7b.err"
	tell s7b "msg s7a after the idle time"
	# the message goes out on the old connection, which the router now
	# drops: the ACK timeout fails it and closes the connection
	if got_new s7b "^(sent|failed) s7a " $((BOUND + 5)) &&
		new_lines "$T/s7b.out" | grep -Eq '^failed s7a [^ ]+ timeout$' &&
		new_lines "$T/s7b.err" | grep -q 'peer s7a (203\.0\.113\.25:[0-9]*): no acknowledgement in time'; then
		pass nat_expire_mapping_gone
	else
		fail nat_expire_mapping_gone "wanted 'failed s7a ID timeout' from an ACK timeout on the old connection (dead behind the expired mapping): $(diag s7b)"
	fi
	mark "$T/s7a.out" "$T/s7b.out"
	if send expire_after s7b s7a "recovered"; then
		TIMES="$TIMES expire-recovery:reverse:$SECS"
		paths expire_after s7b s7a reverse
	fi
	send expire_after s7a s7b "and back"
	# idle again; now the side behind the NAT speaks first: its packets
	# meet no mapping (the router drops them), the ACK timeout closes the
	# connection, and the next message dials again (direct: B is open)
	sleep $((EXP + 3))
	mark "$T/s7a.out" "$T/s7a.err"
	tell s7a "msg s7b after the second idle time"
	if got_new s7a "^(sent|failed) s7b " $((BOUND + 5)) &&
		new_lines "$T/s7a.out" | grep -Eq '^failed s7b [^ ]+ timeout$' &&
		new_lines "$T/s7a.err" | grep -q 'peer s7b (203\.0\.113\.12:[0-9]*): no acknowledgement in time'; then
		pass nat_expire_mapping_gone_again
	else
		fail nat_expire_mapping_gone_again "wanted 'failed s7b ID timeout' from an ACK timeout on the old connection: $(diag s7a)"
	fi
	if send expire_again s7a s7b "recovered again"; then
		TIMES="$TIMES expire-recovery-from-behind:direct:$SECS"
		paths expire_again s7a s7b direct
	fi
	send expire_again s7b s7a "and back again"
fi
unpair s7a s7b

no_crash nat_no_crash "$T/s.log" "$T"/*.err
# the times to first message, for the README's table
line=""
for x in $TIMES; do
	line="$line${line:+, }$(echo "$x" | awk -F: '{ printf "%s (%s) %s s", $2, $1, $3 }')"
done
echo "t_nat: time to first message: $line"
