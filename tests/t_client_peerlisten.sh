#!/bin/sh
# t_client_peerlisten: the client's peer listener under abuse, and LAN
# addresses. The server refuses a PEER whose LAN address is not private,
# link-local or unique-local, and the client refuses such a lan_ip in its
# config. Idle TCP connections to a client's peer port (from several
# loopback addresses, some reopened as soon as they are closed) do not keep
# a real contact out: connections without a ClientHello go first, then the
# oldest of the busiest address (40 addresses: t_client_review.sh).
# A connection that never says hello is closed after peer_hello_timeout;
# one address holds at most max_peer_unauth_per_ip. At a low open file
# limit the listener neither spins nor floods its log. Inside a network
# namespace of its own (when `ip netns` works), a LAN address on none of
# the client's subnets is not dialed, one on its subnet is.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
TCPHOLD=${TCPHOLD:-$TOP/build/tests/tcphold}

srv_conf "$T/s.conf"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; then
	fail peerlisten_server_start "no readiness line"
	exit 1
fi

# --- the server: PEER with a LAN address ---
# peer_reply ADDR: sets R to the server's answer to "PEER 4001 KEYA ADDR"
# from imtc a: the line right before the PONG that follows it.
peer_reply() {
	SYNC=$((SYNC + 1))
	say a "PEER 4001 $KEYA $1" "PING lan$SYNC"
	R="no answer"
	seen a "^PONG lan$SYNC\$" 10 && R=$(grep -B1 -x "PONG lan$SYNC" "$T/a.out" | head -n 1)
}
if signup a alice; then pass peerlisten_lan_setup; else fail peerlisten_lan_setup "alice could not sign up"; fi
for ip in 127.0.0.99 0.0.0.0 224.0.0.1 ::ffff:127.0.0.1 ::1 :: 255.255.255.255 192.0.2.7 ff02::1; do
	peer_reply "$ip"
	case "$R" in
	"ERR 400 lan address $ip is not a private, link-local or unique-local address"*)
		pass "peerlisten_srv_refuses_lan_$ip" ;;
	*) fail "peerlisten_srv_refuses_lan_$ip" "got: $R" ;;
	esac
done
for ip in 10.1.2.3 172.16.9.9 192.168.1.20 169.254.7.7 fe80::1 fd00::42; do
	peer_reply "$ip"
	if [ "$R" = "OK" ]; then pass "peerlisten_srv_accepts_lan_$ip"; else
		fail "peerlisten_srv_accepts_lan_$ip" "got: $R"; fi
done
peer_reply "not-an-ip"
case "$R" in "ERR 400 bad lan address: not-an-ip") pass peerlisten_srv_lan_not_an_ip ;;
*) fail peerlisten_srv_lan_not_an_ip "got: $R" ;; esac
# the session file holds the last accepted address, not a refused one
if grep -qx 'lan_ip=fd00::42' "$T/data/run/alice" 2>/dev/null; then pass peerlisten_srv_refused_not_stored; else
	fail peerlisten_srv_refused_not_stored "$(grep lan_ip "$T/data/run/alice" 2>&1)"; fi

# --- the client: lan_ip in its config ---
for ip in 127.0.0.99 224.0.0.1 ::1 192.0.2.7; do
	cli_conf "badlan" "lan_ip = $ip"
	expect_exit "peerlisten_cli_conf_refuses_lan_$ip" 2 \
		"badlan.conf:[0-9]+: bad value for lan_ip in \[client\]: '$ip' is not a private" \
		"$IM" client -c "$T/badlan.conf" --batch </dev/null
done

# lan_nets: networks counted as LAN beside the private ranges; a lan_ip in
# one is accepted only when lan_nets comes first in the file.
for nets in 10.0.0.0/7 192.0.2.1/24 127.0.0.0/8 0.0.0.0/0 192.0.2.0 ff00::/8; do
	cli_conf "badnets" "lan_nets = $nets"
	expect_exit "peerlisten_cli_conf_refuses_lan_nets_$nets" 2 \
		"badnets.conf:[0-9]+: bad value for lan_nets in \[client\]: " \
		"$IM" client -c "$T/badnets.conf" --batch </dev/null
done
srv_conf "$T/badnets.conf" "lan_nets = 224.0.0.0/8"
expect_exit peerlisten_srv_conf_refuses_lan_nets 2 \
	"badnets.conf:[0-9]+: bad value for lan_nets in \[server\]: 224.0.0.0/8 is a loopback, multicast or unspecified range" \
	timeout 20 "$IM" server -c "$T/badnets.conf"
cli_conf "netsfirst" "lan_nets = 192.0.2.0/24 198.51.100.0/24" "lan_ip = 192.0.2.7"
expect_exit peerlisten_cli_conf_lan_ip_in_lan_nets 1 "peer port [0-9]+" "$IM" client -c "$T/netsfirst.conf" --batch </dev/null
cli_conf "netslast" "lan_ip = 192.0.2.7" "lan_nets = 192.0.2.0/24"
expect_exit peerlisten_cli_conf_lan_nets_must_come_first 2 \
	"netslast.conf:[0-9]+: bad value for lan_ip in \[client\]: '192.0.2.7' .*nor in a lan_nets network set above it" \
	"$IM" client -c "$T/netslast.conf" --batch </dev/null
for v in auto none; do
	cli_conf "lanword" "lan_ip = $v"
	expect_exit "peerlisten_cli_conf_lan_ip_$v" 1 "peer port [0-9]+" "$IM" client -c "$T/lanword.conf" --batch </dev/null
done

# hold_start ID ARGS...: tcphold ARGS in the background, output to $T/ID.hold.
hold_start() {
	hid=$1
	shift
	: >"$T/$hid.hold"
	"$TCPHOLD" "$@" >"$T/$hid.hold" 2>&1 &
	eval "HPID_$hid=$!"
	PIDS="$PIDS $!"
}
hold_stop() {
	eval "kill \$HPID_$1" 2>/dev/null
}
# closed_count ID: how many connections the far end closed so far.
closed_count() {
	n=$(sed -n 's/^\*closed //p' "$T/$1.hold" | tail -n 1)
	echo "${n:-0}"
}
# ms: a monotonic-enough millisecond clock for the timing checks.
ms() { echo $(($(cut -d' ' -f1 /proc/uptime | tr -d .) * 10)); }

# --- a real contact gets through 48 idle connections from 11 addresses ---
cli_conf ann
# The old code's hello deadline was connect_timeout: 30 s here, so that
# it cannot be what lets the contact in. (Only keys the old code knows.)
cli_conf ben "connect_timeout = 30"
cli_start ann 3
cli_start ben 4
tell ann "signup ann ann-pw" "add ben"
tell ben "signup ben ben-pw" "add ann"
if got ann '^online ben ' 15 && got ben '^online ann ' 15; then pass peerlisten_contacts_online; else
	fail peerlisten_contacts_online "$(tail -n 2 "$T/ann.out" | tr '\n' '|')"; fi
BPORT=$(peer_port_of ann ben)
# 8 from the contact's own address, left idle; 40 from ten others, each
# reopened 200 ms after the listener closes it.
hold_start idle -w 120 127.0.0.1 "$BPORT" 8 127.0.0.1
hold_start churn -w 120 -r 200 127.0.0.1 "$BPORT" 40 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 \
	127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9 127.0.0.10 127.0.0.11
if wait_for "$T/idle.hold" '^\*connected 8$' 15 && wait_for "$T/churn.hold" '^\*connected 40$' 15; then
	pass peerlisten_slowloris_attack_set_up
else
	fail peerlisten_slowloris_attack_set_up "$(cat "$T/idle.hold" "$T/churn.hold" | head -n 4 | tr '\n' '|')"
fi
sleep 1
t0=$(ms)
tell ann "msg ben through the crowd"
if got ann '^(sent|failed) ben 1( |$)' 20 && grep -q '^sent ben 1$' "$T/ann.out" &&
	got ben '^msg ann 1 through the crowd$' 5; then
	echo "slowloris: 48 held connections (40 reopened), the contact's message acknowledged in $(($(ms) - t0)) ms"
	pass peerlisten_slowloris_contact_delivered
else
	fail peerlisten_slowloris_contact_delivered "$(grep ' ben 1' "$T/ann.out" | tr '\n' '|')"
fi
if grep -Eq 'peer listener: ([0-9]+ connections|[^ ]+ opened more than [0-9]+ connections that) have not said hello' "$T/ben.err"; then
	pass peerlisten_slowloris_listener_was_full
else
	fail peerlisten_slowloris_listener_was_full "ben never logged a full listener"
fi
# each address holds at most 4 (the default): the reopened ones were
# closed by the listener, not left to pile up
if [ "$(closed_count churn)" -gt 0 ] && [ "$(closed_count idle)" -ge 4 ]; then
	pass peerlisten_slowloris_evicted
else
	fail peerlisten_slowloris_evicted "closed: idle $(closed_count idle), churn $(closed_count churn)"
fi
hold_stop churn
hold_stop idle
tell ann "msg ben after the crowd"
want peerlisten_slowloris_after ann '^sent ben 2$' 15

# --- one address holds at most max_peer_unauth_per_ip (4); hello deadline (5 s) ---
cli_conf cat "connect_timeout = 30"
cli_start cat 5
tell cat "signup cat cat-pw"
got cat '^ready cat$' 15
CPORT=$(sed -n 's/.*peer port \([0-9][0-9]*\).*/\1/p' "$T/cat.err" | head -n 1)
if [ -z "$CPORT" ]; then
	# the port is also in the server's session file
	CPORT=$(sed -n 's/^port=//p' "$T/data/run/cat" 2>/dev/null)
fi
if [ -n "$CPORT" ]; then pass peerlisten_cat_port_known; else fail peerlisten_cat_port_known "no peer port"; fi
t0=$(ms)
hold_start perip -w 30 127.0.0.1 "$CPORT" 7 127.0.0.5
if wait_for "$T/perip.hold" '^\*connected 7$' 10 && wait_for "$T/perip.hold" '^\*closed 3$' 10 &&
	[ $(($(ms) - t0)) -lt 4000 ] && ! grep -q '^\*closed 4$' "$T/perip.hold"; then
	pass peerlisten_per_ip_cap
else
	fail peerlisten_per_ip_cap "$(($(ms) - t0)) ms: $(tr '\n' '|' <"$T/perip.hold")"
fi
# the four it keeps go at the hello deadline (5 s), not before
if wait_for "$T/perip.hold" '^\*closed 7$' 20 && [ $(($(ms) - t0)) -ge 4500 ] && [ $(($(ms) - t0)) -lt 15000 ]; then
	pass peerlisten_hello_deadline
else
	fail peerlisten_hello_deadline "$(($(ms) - t0)) ms: $(tr '\n' '|' <"$T/perip.hold")"
fi
hold_stop perip

# --- at a low open file limit the listener neither spins nor floods ---
REAL_IM=$IM
printf '#!/bin/sh\nulimit -n 24 || exit 9\nexec "%s" "$@"\n' "$REAL_IM" >"$T/im-ulimit"
chmod +x "$T/im-ulimit"
cli_conf dan "connect_timeout = 30"
IM="$T/im-ulimit"
cli_start dan 6
IM=$REAL_IM
tell dan "signup dan dan-pw" "add ann"
tell ann "add dan"
if got dan '^online ann ' 15 && got ann '^online dan ' 15; then pass peerlisten_fd_setup; else
	fail peerlisten_fd_setup "$(tail -n 2 "$T/dan.out" | tr '\n' '|')"; fi
eval "DPID=\$CPID_dan"
if [ "$(sed -n 's/^Max open files *\([0-9]*\).*/\1/p' "/proc/$DPID/limits")" = 24 ]; then
	pass peerlisten_fd_limit_applied
else
	fail peerlisten_fd_limit_applied "$(grep 'open files' "/proc/$DPID/limits")"
fi
DPORT=$(peer_port_of ann dan)
hold_start fd -w 60 127.0.0.1 "$DPORT" 60 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7
if wait_for "$T/fd.hold" '^\*connected 60$' 15; then pass peerlisten_fd_attack_set_up; else
	fail peerlisten_fd_attack_set_up "$(head -n 3 "$T/fd.hold" | tr '\n' '|')"; fi
# cpu PID: user + system clock ticks so far.
cpu() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
c0=$(cpu "$DPID")
l0=$(wc -c <"$T/dan.err")
sleep 4
c1=$(cpu "$DPID")
l1=$(wc -c <"$T/dan.err")
tps=$(getconf CLK_TCK)
echo "fd limit 24, 60 held connections: $((c1 - c0)) ticks of $tps/s CPU in 4 s, log grew $((l1 - l0)) bytes"
if [ $((c1 - c0)) -lt $((tps / 2)) ]; then pass peerlisten_fd_limit_no_spin; else
	fail peerlisten_fd_limit_no_spin "$((c1 - c0)) ticks ($tps/s) of CPU in 4 s"; fi
if [ $((l1 - l0)) -lt 20000 ]; then pass peerlisten_fd_limit_log_small; else
	fail peerlisten_fd_limit_log_small "log grew $((l1 - l0)) bytes in 4 s"; fi
tell ann "msg dan past the limit"
if got ann '^(sent|failed) dan 3( |$)' 20 && grep -q '^sent dan 3$' "$T/ann.out" &&
	got dan '^msg ann 3 past the limit$' 5; then
	pass peerlisten_fd_limit_contact_delivered
else
	fail peerlisten_fd_limit_contact_delivered "$(grep ' dan 3' "$T/ann.out" | tr '\n' '|')"
fi
hold_stop fd

# --- out of descriptors for real: accepting pauses, once-a-minute warning ---
# eve's limit is cut (prlimit) after start-up so that only its two lowest
# free descriptor numbers stay usable: idle connections exhaust them at
# once, and accept() fails with EMFILE while the backlog keeps the listener
# readable.
cli_conf eve "connect_timeout = 30"
cli_start eve 7
tell eve "signup eve eve-pw"
if ! command -v prlimit >/dev/null 2>&1; then
	echo "SKIP peerlisten_emfile: prlimit (util-linux) is not installed"
elif ! got eve '^ready eve$' 15; then
	fail peerlisten_emfile_set_up "eve never got ready"
else
	eval "EPID=\$CPID_eve"
	free=0
	while [ -e "/proc/$EPID/fd/$free" ]; do free=$((free + 1)); done
	EPORT=$(sed -n 's/.*peer port \([0-9][0-9]*\).*/\1/p' "$T/eve.err" | head -n 1)
	if prlimit --pid "$EPID" --nofile=$((free + 2)) && [ -n "$EPORT" ]; then
		pass peerlisten_emfile_set_up
	else
		fail peerlisten_emfile_set_up "prlimit failed or no peer port ($EPORT)"
	fi
	hold_start emf -w 60 127.0.0.1 "$EPORT" 30 127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7
	if wait_for "$T/emf.hold" '^\*connected 30$' 15 && wait_for "$T/eve.err" "accept: $EMFILE_TEXT" 10; then
		pass peerlisten_emfile_reached
	else
		fail peerlisten_emfile_reached "$(head -n 2 "$T/emf.hold" | tr '\n' '|') $(tail -n 2 "$T/eve.err" | tr '\n' '|')"
	fi
	c0=$(cpu "$EPID")
	l0=$(wc -c <"$T/eve.err")
	sleep 4
	c1=$(cpu "$EPID")
	l1=$(wc -c <"$T/eve.err")
	echo "EMFILE, 30 held connections: $((c1 - c0)) ticks of $tps/s CPU in 4 s, log grew $((l1 - l0)) bytes"
	if [ $((c1 - c0)) -lt $((tps / 2)) ]; then pass peerlisten_emfile_no_spin; else
		fail peerlisten_emfile_no_spin "$((c1 - c0)) ticks ($tps/s) of CPU in 4 s"; fi
	if [ $((l1 - l0)) -lt 5000 ] && [ "$(grep -Ec "accept: $EMFILE_TEXT" "$T/eve.err")" -eq 1 ] &&
		grep -Eq "accept: $EMFILE_TEXT; pausing new connections for a second" "$T/eve.err"; then
		pass peerlisten_emfile_one_warning
	else
		fail peerlisten_emfile_one_warning "log grew $((l1 - l0)) bytes, $(grep -Ec "accept: $EMFILE_TEXT" "$T/eve.err") accept warnings"
	fi
	hold_stop emf
fi

for id in ann ben cat dan eve; do cli_eof $id; done
for id in ann ben cat dan eve; do cli_wait $id 10; done
srv_stop peerlisten_server_stops
no_crash peerlisten_no_crash "$T/s.log" "$T/ann.err" "$T/ben.err" "$T/cat.err" "$T/dan.err" "$T/eve.err"

# --- which LAN address is dialed: only inside a network namespace of our own ---
# In it: lo, and a veth pair with 192.0.2.1/24 (a subnet of ours) and
# 198.51.100.99/32 (an address of ours, but no subnet shared with anyone):
# documentation ranges, made LAN by lan_nets on both sides.
# Nothing in it can reach any network outside; every process of this
# section (server and clients) runs in it. bob listens only on its LAN
# address 192.0.2.1, carl only on 198.51.100.99, so dialing their announced
# address (127.0.0.1) is refused and only their LAN address could work.
NS=imtest$$
if [ "$(id -u)" != 0 ] || ! ip netns add "$NS" 2>/dev/null; then
	echo "SKIP peerlisten_netns_lan: cannot create a network namespace (needs root and ip netns)"
	exit 0
fi
trap 'cleanup; ip netns del "$NS" 2>/dev/null' EXIT
nsx() { ip netns exec "$NS" "$@"; }
if nsx ip link set lo up && nsx ip link add lana type veth peer name lanb &&
	nsx ip addr add 192.0.2.1/24 dev lana && nsx ip addr add 198.51.100.99/32 dev lanb &&
	nsx ip link set lana up && nsx ip link set lanb up; then
	pass peerlisten_netns_set_up
else
	fail peerlisten_netns_set_up "ip could not configure namespace $NS"
	exit 1
fi
printf '#!/bin/sh\nexec ip netns exec "%s" "%s" "$@"\n' "$NS" "$REAL_IM" >"$T/im-ns"
chmod +x "$T/im-ns"
IM="$T/im-ns"
srv_conf "$T/ns.conf" "data_dir = $T/nsdata" "lan_nets = 192.0.2.0/24 198.51.100.0/24" \
	"listen = 127.0.0.1 192.0.2.1"
if ! srv_start "$T/ns.conf" "$T/ns.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; then
	fail peerlisten_netns_server_start "no readiness line"
	exit 1
fi
NETS="lan_nets = 192.0.2.0/24 198.51.100.0/24"
cli_conf amy "$NETS"
cli_conf bob "$NETS" "peer_listen = 192.0.2.1" "lan_ip = 192.0.2.1"
cli_conf carl "$NETS" "peer_listen = 198.51.100.99" "lan_ip = 198.51.100.99"
cli_start amy 3
cli_start bob 4
cli_start carl 5
IM=$REAL_IM
tell amy "signup amy amy-pw" "add bob" "add carl"
tell bob "signup bob bob-pw" "add amy"
tell carl "signup carl carl-pw" "add amy"
if got amy '^online bob ' 15 && got amy '^online carl ' 15 && grep -q "^lan_ip=198.51.100.99$" "$T/nsdata/run/carl"; then
	pass peerlisten_netns_online
else
	fail peerlisten_netns_online "$(tr '\n' '|' <"$T/amy.out")"
fi
tell amy "msg bob on our subnet"
if got amy '^(sent|failed) bob 1( |$)' 15 && grep -q '^sent bob 1$' "$T/amy.out" &&
	got bob '^msg amy 1 on our subnet$' 5; then
	pass peerlisten_netns_lan_on_subnet_dialed
else
	fail peerlisten_netns_lan_on_subnet_dialed "$(grep ' bob 1' "$T/amy.out" | tr '\n' '|')"
fi
tell amy "msg carl not on our subnet"
if got amy '^(sent|failed) carl 2( |$)' 15 && grep -q '^failed carl 2 unreachable$' "$T/amy.out" &&
	! grep -q '^msg amy' "$T/carl.out"; then
	pass peerlisten_netns_lan_off_subnet_not_dialed
else
	fail peerlisten_netns_lan_off_subnet_not_dialed "$(grep ' carl 2' "$T/amy.out" | tr '\n' '|')"
fi
if grep -q 'LAN address 198.51.100.99 is on none of our networks' "$T/amy.err"; then
	pass peerlisten_netns_lan_skip_logged
else
	fail peerlisten_netns_lan_skip_logged "no such line in amy's log"
fi
# lan_ip = auto (the default) announces the address the server is reached
# from when it is a LAN address (dan, over 192.0.2.1), and nothing when it
# is not (amy, over loopback); none announces nothing (eve).
P2=$(sed -n 's/.*listening on 192\.0\.2\.1:\([0-9]*\)$/\1/p' "$T/ns.log" | head -n 1)
IM="$T/im-ns"
cli_conf dan "$NETS" "server = 192.0.2.1" "server_port = $P2"
cli_conf eve "$NETS" "server = 192.0.2.1" "server_port = $P2" "lan_ip = none"
cli_start dan 6
cli_start eve 7
IM=$REAL_IM
tell dan "signup dan dan-pw"
tell eve "signup eve eve-pw"
if got dan '^ready dan$' 15 && wait_for "$T/nsdata/run/dan" '^lan_ip=192.0.2.1$' 10; then
	pass peerlisten_netns_lan_ip_auto_announced
else
	fail peerlisten_netns_lan_ip_auto_announced "$(grep lan_ip "$T/nsdata/run/dan" 2>&1)"
fi
if got eve '^ready eve$' 15 && wait_for "$T/nsdata/run/eve" '^port=[1-9]' 10 &&
	grep -qx 'lan_ip=' "$T/nsdata/run/eve"; then
	pass peerlisten_netns_lan_ip_none
else
	fail peerlisten_netns_lan_ip_none "$(grep lan_ip "$T/nsdata/run/eve" 2>&1)"
fi
if grep -qx 'lan_ip=' "$T/nsdata/run/amy"; then
	pass peerlisten_netns_lan_ip_auto_not_loopback
else
	fail peerlisten_netns_lan_ip_auto_not_loopback "$(grep lan_ip "$T/nsdata/run/amy" 2>&1)"
fi
for id in amy bob carl dan eve; do cli_eof $id; done
for id in amy bob carl dan eve; do cli_wait $id 10; done
srv_stop peerlisten_netns_server_stops
no_crash peerlisten_netns_no_crash "$T/ns.log" "$T/amy.err" "$T/bob.err" "$T/carl.err" "$T/dan.err" "$T/eve.err"
