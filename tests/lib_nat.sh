# lib_nat.sh: a simulated internet in Linux network namespaces for
# tests/t_nat.sh (sourced after lib.sh, lib_server.sh and lib_client.sh).
#
# Everything lives in namespaces this test creates, named imnat<PID>-<n>
# (so parallel runs never collide); veth pairs are made directly between
# two of them (never in the machine's own namespace), and the sysctls set
# are those of the test's own namespaces. The machine's interfaces, routes
# and sysctls are never touched. nat_cleanup (on every exit path) ends the
# processes inside them and deletes them, which deletes the veths too.
#
#   internet (NS i): bridge br0, 203.0.113.1/24; the server listens there.
#   a public host:   its eth0 on br0, an address from 203.0.113.0/24.
#   a NAT router:    wan on br0 (203.0.113.x), a bridge lan (its LAN
#                    switch) with the LAN's gateway address, ip_forward=1,
#                    nftables: masquerade on wan (port-preserving, or
#                    "random"), and a home router's firewall (forward:
#                    established/related, LAN->WAN and LAN->LAN only; input
#                    from wan: established/related only).
#   a host behind a router: eth0 on the router's lan, default route via it.

NAT_P=imnat$$
NAT_NS=""

# nat_ns N: the full name of the test's namespace N.
nat_ns() { echo "$NAT_P-$1"; }

# nat_in N CMD...: runs CMD inside namespace N.
nat_in() {
	_nn=$1
	shift
	ip netns exec "$NAT_P-$_nn" "$@"
}

# nat_sysctl N KEY VALUE: sets a sysctl of namespace N only (its own
# /proc/sys/net, as seen from inside it).
nat_sysctl() {
	nat_in "$1" sh -c "echo $3 >/proc/sys/$(echo "$2" | tr . /)"
}

# nat_stale: deletes namespaces that an earlier run of this test left
# behind when it was killed outright (its PID is gone); never another
# running test's.
nat_stale() {
	for _s in $(ip netns list 2>/dev/null | sed -n 's/^\(imnat[0-9][0-9]*-[a-z0-9]*\).*/\1/p'); do
		_sp=$(echo "$_s" | sed 's/^imnat\([0-9]*\)-.*/\1/')
		[ "$_sp" = $$ ] && continue
		kill -0 "$_sp" 2>/dev/null && continue
		for _q in $(ip netns pids "$_s" 2>/dev/null); do kill -KILL "$_q" 2>/dev/null; done
		ip netns del "$_s" 2>/dev/null
	done
}

# nat_cleanup: ends every process inside the test's namespaces (TERM, then
# KILL after 3 s) and deletes the namespaces (and with them their veths,
# bridges, nftables rules and conntrack tables).
nat_cleanup() {
	[ -n "$NAT_NS" ] || return 0
	for _n in $NAT_NS; do
		for _q in $(ip netns pids "$_n" 2>/dev/null); do kill -TERM "$_q" 2>/dev/null; done
	done
	_ci=0
	while [ $_ci -lt 60 ]; do
		_left=""
		for _n in $NAT_NS; do _left="$_left$(ip netns pids "$_n" 2>/dev/null)"; done
		[ -z "$_left" ] && break
		sleep 0.05
		_ci=$((_ci + 1))
	done
	for _n in $NAT_NS; do
		for _q in $(ip netns pids "$_n" 2>/dev/null); do kill -KILL "$_q" 2>/dev/null; done
		ip netns del "$_n" 2>/dev/null
	done
	NAT_NS=""
}

# nat_can: 0 when namespaces, veths and nftables can be made here; else
# sets NAT_WHY to why (one line) and returns 1 (the caller SKIPs). Not in
# a subshell: it records the namespace it tries in NAT_NS for the cleanup.
nat_can() {
	NAT_WHY=""
	if [ "$(id -u)" != 0 ]; then
		NAT_WHY="not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
	elif ! command -v ip >/dev/null 2>&1; then
		NAT_WHY="no ip command (iproute2: ./build.sh deps)"
	elif ! command -v nft >/dev/null 2>&1; then
		NAT_WHY="no nft command (nftables: ./build.sh deps)"
	else
		NAT_NS="$NAT_NS $NAT_P-probe"
		if ! _why=$(ip netns add "$NAT_P-probe" 2>&1); then
			NAT_WHY="cannot create a network namespace: $_why"
		elif ! _why=$(ip -n "$NAT_P-probe" link add x0 type veth peer name x1 2>&1); then
			NAT_WHY="cannot create a veth pair in a namespace: $_why"
		elif ! _why=$(printf 'table ip t {\n chain p {\n  type nat hook postrouting priority 100;\n  masquerade random\n }\n}\n' |
			ip netns exec "$NAT_P-probe" nft -f - 2>&1); then
			NAT_WHY="nftables cannot masquerade in a namespace: $_why"
		elif ! _why=$(nat_sysctl probe net.ipv4.ip_forward 1 2>&1); then
			NAT_WHY="cannot set ip_forward inside a namespace: $_why"
		fi
		ip netns del "$NAT_P-probe" 2>/dev/null
		NAT_NS=$(echo "$NAT_NS" | sed "s/ $NAT_P-probe//")
	fi
	NAT_WHY=$(printf '%s' "$NAT_WHY" | tr '\n' ' ' | head -c 300)
	[ -z "$NAT_WHY" ]
}

# nat_add N: a new namespace N with its loopback up.
nat_add() {
	NAT_NS="$NAT_NS $NAT_P-$1"
	ip netns add "$NAT_P-$1" && ip -n "$NAT_P-$1" link set lo up
}

# nat_veth N1 IF1 N2 IF2: a veth pair between namespaces N1 and N2, both
# ends up.
nat_veth() {
	ip -n "$NAT_P-$1" link add "$2" type veth peer name "$4" netns "$NAT_P-$3" &&
		ip -n "$NAT_P-$1" link set "$2" up && ip -n "$NAT_P-$3" link set "$4" up
}

# nat_internet: namespace i with bridge br0 (203.0.113.1/24).
nat_internet() {
	nat_add i &&
		ip -n "$NAT_P-i" link add br0 type bridge stp_state 0 forward_delay 0 &&
		ip -n "$NAT_P-i" addr add 203.0.113.1/24 dev br0 &&
		ip -n "$NAT_P-i" link set br0 up && nat_switch i
}

# nat_public N IP: host N on the internet with address IP (/24).
nat_public() {
	nat_add "$1" && nat_veth "$1" eth0 i "v$1" &&
		ip -n "$NAT_P-i" link set "v$1" master br0 &&
		ip -n "$NAT_P-$1" addr add "$2/24" dev eth0
}

# nat_router N WAN-IP LAN-GW/PREFIX keep|random [reject]: a home router N.
# Its conntrack picks up no connection in mid-stream
# (nf_conntrack_tcp_loose = 0, as a router that lost a mapping drops what
# follows). An unsolicited SYN from the WAN is dropped, or with reject
# answered with an ICMP port unreachable (as many routers do).
nat_router() {
	_how="" _syn=""
	[ "$4" = random ] && _how=" random"
	[ "${5:-}" = reject ] && _syn='iifname "wan" tcp flags & (syn | ack) == syn reject with icmpx type port-unreachable'

	nat_add "$1" && nat_veth "$1" wan i "v$1" &&
		ip -n "$NAT_P-i" link set "v$1" master br0 &&
		ip -n "$NAT_P-$1" addr add "$2/24" dev wan &&
		ip -n "$NAT_P-$1" link add lan type bridge stp_state 0 forward_delay 0 &&
		ip -n "$NAT_P-$1" addr add "$3" dev lan &&
		ip -n "$NAT_P-$1" link set lan up &&
		nat_sysctl "$1" net.ipv4.ip_forward 1 &&
		nat_in "$1" nft -f - <<EOF &&
table inet home {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state invalid drop
		ct state established,related accept
		iifname "lan" oifname "wan" accept
		iifname "lan" oifname "lan" accept
	}
	chain input {
		type filter hook input priority 0; policy accept;
		iifname "wan" ct state established,related accept
		$_syn
		iifname "wan" drop
	}
}
table ip nat {
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		oifname "wan" masquerade$_how
	}
}
EOF
		nat_sysctl "$1" net.netfilter.nf_conntrack_tcp_loose 0 &&
		nat_switch "$1"
}

# nat_switch N: the bridges of namespace N switch frames without passing
# them to the IP firewall (br_netfilter, when the machine loaded it, sends
# bridged frames through the forward hook; its switches are per namespace).
nat_switch() {
	nat_in "$1" sh -c 'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ ! -e "$f" ] || echo 0 >"$f"; done'
}

# nat_host N ROUTER IP/PREFIX GW: host N on ROUTER's LAN, default route
# via GW.
nat_host() {
	nat_add "$1" && nat_veth "$1" eth0 "$2" "h$1" &&
		ip -n "$NAT_P-$2" link set "h$1" master lan &&
		ip -n "$NAT_P-$1" addr add "$3" dev eth0 &&
		ip -n "$NAT_P-$1" route add default via "$4"
}

# nat_stamp OUT TS: copies its input lines to OUT and, each with the time
# it was read (seconds since the epoch, with nanoseconds) in front, to TS
# (TS first: a line seen in OUT has its time in TS already).
nat_stamp() {
	while IFS= read -r _l; do
		printf '%s %s\n' "$(date +%s.%N)" "$_l" >>"$2"
		printf '%s\n' "$_l" >>"$1"
	done
}

# nat_cli_start ID NS FD: starts client ID (config $T/ID.conf) inside
# namespace NS, commands from descriptor FD (3-9) as in lib_client.sh's
# cli_start; events to $T/ID.out, each with its time in $T/ID.ts.
nat_cli_start() {
	_id=$1 _ns=$2 _fd=$3
	rm -f "$T/$_id.fifo"
	mkfifo "$T/$_id.fifo"
	: >"$T/$_id.out"
	: >"$T/$_id.ts"
	ip netns exec "$NAT_P-$_ns" "$IM" client -c "$T/$_id.conf" --batch <"$T/$_id.fifo" 2>>"$T/$_id.err" \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- | nat_stamp "$T/$_id.out" "$T/$_id.ts" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	eval "CPID_$_id=$!; FD_$_id=$_fd"
	PIDS="$PIDS $!"
	eval "exec $_fd>\"\$T/\$_id.fifo\""
}

# nat_now: the time now, as nat_stamp writes it.
nat_now() { date +%s.%N; }

# nat_ts_new ID PATTERN: the time of the first line of $T/ID.out after its
# mark that matches PATTERN (from $T/ID.ts); empty if none.
nat_ts_new() {
	eval "_mn=\${MARK_$(printf '%s' "$T/$1.out" | tr -c 'A-Za-z0-9_' _):-0}"
	tail -n "+$((_mn + 1))" "$T/$1.ts" 2>/dev/null | while IFS= read -r _tl; do
		if printf '%s\n' "${_tl#* }" | grep -Eq -- "$2"; then
			echo "${_tl%% *}"
			break
		fi
	done
}

# nat_secs T0 T1: T1 - T0 in seconds, two decimals.
nat_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# nat_knows SECTION KEY VALUE: 0 when $IM accepts KEY in SECTION (an
# older binary says "unknown key").
nat_knows() {
	printf '[%s]\n%s = %s\n' "$1" "$2" "$3" >"$T/knows.conf"
	! "$IM" who -c "$T/knows.conf" 2>&1 | grep -q 'unknown key'
}
