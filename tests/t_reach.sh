#!/bin/sh
# t_reach: protocol 1.1 on the server, through real TLS on loopback:
# VERSION (chosen once per connection); the reachability probe (a TCP
# connect to the observed address and announced port only; open, closed,
# unknown; probes_per_minute; the max_probes queue; max_probes_per_ip; a
# logout mid-probe); REACH about yourself and about mutual 1.1 contacts
# after ONLINE and on change, never about or to a version-1 connection;
# the CALL and PUNCH relays with every error and the max_calls rate. The
# probed ports are imtc -L listeners (they print "*accept IP" per
# connection) or an imtc -L -B black hole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

IP=127\\.0\\.0\\.1

# lis ID ADDR [IMTC-OPTIONS...]: a listener on ADDR (port 0 unless -p is
# not needed: the port is any free one unless LIS_PORT is set); sets LPORT.
lis() {
	_id=$1 _addr=$2
	shift 2
	"$IMTC" -L "$@" -w 300 "$_addr" "${LIS_PORT:-0}" >"$T/$_id.out" 2>&1 &
	PIDS="$PIDS $!"
	eval "LPID_$_id=$!"
	wait_for "$T/$_id.out" '^\*port [0-9]+$' 10 || return 1
	LPORT=$(sed -n 's/^\*port //p' "$T/$_id.out")
}

# accepts ID: connections listener ID has seen.
accepts() { grep -c '^\*accept ' "$T/$1.out"; }

# up ID NAME [VERSION [IMTC-OPTIONS...]]: client ID says VERSION (when
# given and not "-"), then signs up as NAME.
up() {
	_id=$1 _name=$2 _v=${3:--}
	if [ $# -ge 3 ]; then shift 3; else shift $#; fi
	cl "$_id" "$@"
	if [ "$_v" != - ]; then
		say "$_id" "VERSION $_v"
		seen "$_id" '^OK 1' || return 1
	fi
	say "$_id" "SIGNUP $_name $_name-pw"
	seen "$_id" "^OK $_name\$"
}

# quiet ID PATTERN: no line after ID's mark matches PATTERN.
quiet() { ! new_lines "$T/$1.out" | grep -Eq -- "$2"; }

# next_after ID PATTERN: the line ID received right after the last line
# matching PATTERN.
next_after() { grep -E -A 1 -- "$2" "$T/$1.out" | tail -n 1; }

# A port nobody listens on: a listener's, after it is gone.
free_port() {
	lis gone 127.0.0.1 || return 1
	eval "kill \$LPID_gone"
	eval "wait \$LPID_gone" 2>/dev/null
	FREE=$LPORT
}

C=$T/s.conf
srv_conf "$C" "reach_timeout = 3" "log_level = debug" "max_signups_per_ip = 1000"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi
need free_port free_port

# --- VERSION: replies before login, malformed ones, chosen once ---
# Malformed and refused versions choose nothing: one connection takes them
# all, then a valid one, then no other.
cl v
say v "VERSION" "VERSION 1." "VERSION .1" "VERSION 1.1.1" "VERSION -1" "VERSION 1.1 x" \
	"VERSION abc" "VERSION 1,1" "VERSION 0.9" "VERSION 99999999999999999999.1" "VERSION 1" "VERSION 1.1"
need version_replies sync v
got=$(grep -E '^(OK|ERR)' "$T/v.out" | tr '\n' '|')
U='ERR 400 usage: VERSION <major.minor>'
want="$U|$U|$U|$U|$U|$U|$U|$U|ERR 400 version 0.9 is not spoken here (this server speaks 1 and 1.1)|OK 1.1|ERR 400 version already chosen: 1.1|ERR 400 version already chosen: 1.1|"
if [ "$got" = "$want" ]; then pass version_replies; else fail version_replies "got $got"; fi
say v '!quit'
# Each valid form on a connection of its own: VERSION=REPLY (vn, not i:
# wait_for uses i).
FORMS="1=1 1.0=1 2=1.1 1.10=1.1 01.01=1.1"
vn=0
for vform in $FORMS; do
	vn=$((vn + 1))
	cl "vf$vn"
	say "vf$vn" "VERSION ${vform%%=*}"
done
got='' want='' vn=0
for vform in $FORMS; do
	vn=$((vn + 1))
	seen "vf$vn" '^(OK|ERR)' 10
	got="$got$(grep -E '^(OK|ERR)' "$T/vf$vn.out" | tr '\n' '|')"
	want="${want}OK ${vform#*=}|"
	say "vf$vn" '!quit'
done
if [ "$got" = "$want" ]; then pass version_forms; else fail version_forms "got $got, want $want"; fi
# A version-1 connection knows no CALL or PUNCH, and stays version 1; a
# 1.1 one before login is told to log in (even for a malformed CALL).
cl v1
say v1 "VERSION 1" "CALL bob" "PUNCH bob" "VERSION 1.1" "CALL bob"
cl v11
say v11 "VERSION 1.1" "CALL bob" "PUNCH bob" "CALL" "VERSION 1"
if sync v1 && sync v11; then
	got=$(grep -E '^(OK|ERR)' "$T/v1.out" "$T/v11.out" | sed 's/^[^:]*://' | tr '\n' '|')
	want="OK 1|ERR 400 unknown command: CALL|ERR 400 unknown command: PUNCH|ERR 400 version already chosen: 1|ERR 400 unknown command: CALL|OK 1.1|ERR 403 not logged in|ERR 403 not logged in|ERR 403 not logged in|ERR 400 version already chosen: 1.1|"
	if [ "$got" = "$want" ]; then pass version_1_no_call_1_1_login_first_kept; else
		fail version_1_no_call_1_1_login_first_kept "got $got"; fi
else
	fail version_1_no_call_1_1_login_first_kept "no PONG"
fi
say v1 '!quit'
say v11 '!quit'

# --- the probe: open (a real listener), closed (a port nobody has) ---
need listener_a lis la 127.0.0.1
PA=$LPORT
need alice up a alice 1.1
say a "CONTACTS bob carol erin"
say a "PEER $PA $KEYA"
expect reach_self_open a "^REACH alice open $IP\$" 10
wait_for "$T/la.out" '^\*accept' 5
sleep 0.2
if [ "$(accepts la)" -eq 1 ] && grep -q "^\*accept 127\.0\.0\.1\$" "$T/la.out"; then
	pass reach_probe_is_one_connect_from_server
else
	fail reach_probe_is_one_connect_from_server "listener saw: $(tr '\n' '|' <"$T/la.out")"
fi

need bob up b bob 1.1
say b "CONTACTS alice carol"
mark "$T/a.out"
say b "PEER $FREE $KEYB"
expect reach_self_closed_refused b "^REACH bob closed $IP\$" 10
# alice: ONLINE bob, right after it REACH bob unknown (its probe runs),
# then REACH bob closed when it is done.
setup contact_online seen_new a "^ONLINE bob "
expect_new reach_contact_again_on_change a "^REACH bob closed $IP\$" 10
if [ "$(next_after a "^ONLINE bob $IP $FREE ")" = "REACH bob unknown 127.0.0.1" ]; then
	pass reach_contact_right_after_online
else
	fail reach_contact_right_after_online "after ONLINE bob: $(next_after a '^ONLINE bob ')"
fi
# bob, the newcomer: ONLINE alice, then alice's current state.
if [ "$(next_after b "^ONLINE alice $IP $PA ")" = "REACH alice open 127.0.0.1" ]; then
	pass reach_newcomer_told_contact_state
else
	fail reach_newcomer_told_contact_state "after ONLINE alice: $(next_after b '^ONLINE alice ')"
fi

# bob moves to a port that listens: ONLINE + REACH unknown, then open.
need listener_b lis lb 127.0.0.1
PB=$LPORT
mark "$T/a.out" "$T/b.out"
say b "PEER $PB $KEYB"
expect_new reach_port_change_self_open b "^REACH bob open $IP\$" 10
expect_new reach_port_change_contact_open a "^REACH bob open $IP\$" 10
got=$(new_lines "$T/a.out" | grep -E '^(ONLINE|REACH) bob' | tr '\n' '|')
if [ "$got" = "ONLINE bob 127.0.0.1 $PB $KEYB|REACH bob unknown 127.0.0.1|REACH bob open 127.0.0.1|" ]; then
	pass reach_port_change_sequence
else
	fail reach_port_change_sequence "alice got $got"
fi
# The same PEER again: no ONLINE, no probe, no REACH.
n=$(accepts lb)
mark "$T/a.out" "$T/b.out"
say b "PEER $PB $KEYB"
sync b
sleep 0.3
if sync a && quiet a '^(ONLINE|REACH)' &&
	quiet b '^REACH' && [ "$(accepts lb)" -eq "$n" ]; then
	pass reach_same_peer_no_probe
else
	fail reach_same_peer_no_probe "a: $(new_lines "$T/a.out" | tr '\n' '|') accepts $(accepts lb) (was $n)"
fi
# The same port with a new LAN address, then without it again: alice
# gets ONLINE and bob's current state after each; bob no REACH about
# itself, and no probe runs.
mark "$T/a.out" "$T/b.out"
say b "PEER $PB $KEYB 192.168.1.5" "PEER $PB $KEYB"
setup lan_change_online seen_new a "^ONLINE bob $IP $PB $KEYB\$" 10
sleep 0.3
synced=no
sync a && sync b && synced=yes
got=$(new_lines "$T/a.out" | grep -E '^(ONLINE|REACH) bob' | tr '\n' '|')
if [ $synced = yes ] && quiet b '^REACH' && [ "$(accepts lb)" -eq "$n" ] &&
	[ "$got" = "ONLINE bob 127.0.0.1 $PB $KEYB 192.168.1.5|REACH bob open 127.0.0.1|ONLINE bob 127.0.0.1 $PB $KEYB|REACH bob open 127.0.0.1|" ]; then
	pass reach_same_port_no_self_reach
else
	fail reach_same_port_no_self_reach "a: $got b: $(new_lines "$T/b.out" | tr '\n' '|') accepts $(accepts lb) (was $n)"
fi

# --- a version-1 client: carol sees exactly protocol 1 ---
need carol up c carol
say c "CONTACTS alice bob"
say c "PEER 4003 $KEYC"
need carol_sync sync c
CS1=$SYNC
say a "CALL carol" "PUNCH carol"
setup carol_calls seen a '^ERR 403 carol cannot take calls \(protocol 1\)$'
sync a
if [ "$(grep -c '^ERR 403 carol cannot take calls (protocol 1)$' "$T/a.out")" -eq 2 ]; then
	pass call_punch_v1_callee_refused
else
	fail call_punch_v1_callee_refused "$(grep carol "$T/a.out" | tr '\n' '|')"
fi
lacks reach_none_about_v1_contact a '^REACH carol'
setup alice_online_carol seen a "^ONLINE carol $IP 4003 $KEYC\$"
# bob's port changes, alice calls: carol's whole transcript stays v1.
mark "$T/a.out" "$T/c.out"
say b "PEER $PA $KEYB"
setup bob_moved seen_new a "^REACH bob open $IP\$" 10
setup carol_told seen_new c "^ONLINE bob $IP $PA " 10
need carol_sync2 sync c
got=$(grep -v '^\*tls' "$T/c.out" | sed 's/^TOKEN .*/TOKEN x/' | tr '\n' '|')
want="IM 1 im|OK carol|TOKEN x|OK|OK|ONLINE alice 127.0.0.1 $PA $KEYA|ONLINE bob 127.0.0.1 $PB $KEYB|PONG sync$CS1|ONLINE bob 127.0.0.1 $PA $KEYB|PONG sync$SYNC|"
if [ "$got" = "$want" ]; then pass v1_client_sees_protocol_1_only; else
	fail v1_client_sees_protocol_1_only "got $got want $want"; fi
mark "$T/b.out"
say b "PEER $PB $KEYB"
setup bob_back seen_new b "^REACH bob open $IP\$" 10

# --- CALL: to the callee only ---
need dave up d dave 1.1
say d "CONTACTS alice"
say d "PEER 4004 $KEYD"
setup dave_peer sync d
mark "$T/a.out" "$T/b.out" "$T/c.out" "$T/d.out"
say a "CALL bob"
expect_new call_ok a '^OK$'
expect_new call_relayed b '^CALL alice$'
sync c
sync d
if quiet c '^(CALL|PUNCH)' && quiet d '^(CALL|PUNCH)' &&
	quiet a '^(CALL|PUNCH)'; then
	pass call_to_callee_only
else
	fail call_to_callee_only "c: $(new_lines "$T/c.out" | tr '\n' '|') d: $(new_lines "$T/d.out" | tr '\n' '|')"
fi

# --- PUNCH: OK, then PUNCH with the callee's address to the caller, and
# the caller's to the callee ---
mark "$T/a.out" "$T/b.out"
say a "PUNCH bob"
setup punch_caller seen_new a '^PUNCH ' && setup punch_callee seen_new b '^PUNCH '
got=$(new_lines "$T/a.out" | head -n 2 | tr '\n' '|')
if [ "$got" = "OK|PUNCH bob 127.0.0.1 $PB|" ]; then pass punch_caller_ok_then_address; else
	fail punch_caller_ok_then_address "alice got $got"; fi
got=$(new_lines "$T/b.out" | grep '^PUNCH')
if [ "$got" = "PUNCH alice 127.0.0.1 $PA" ]; then pass punch_callee_gets_caller_address; else
	fail punch_callee_gets_caller_address "bob got $got"; fi

# --- a pair made mutual by ADD: REACH right after each ONLINE ---
say a "DEL bob"
setup del_bob seen_new a '^OFFLINE bob$'
mark "$T/a.out" "$T/b.out"
say a "ADD bob"
setup add_bob_a seen_new a '^ONLINE bob ' && setup add_bob_b seen_new b '^ONLINE alice '
need add_sync_a sync a
need add_sync_b sync b
if [ "$(new_lines "$T/a.out" | grep -A 1 '^ONLINE bob ' | tail -n 1)" = "REACH bob open 127.0.0.1" ] &&
	[ "$(new_lines "$T/b.out" | grep -A 1 '^ONLINE alice ' | tail -n 1)" = "REACH alice open 127.0.0.1" ]; then
	pass reach_after_online_of_add
else
	fail reach_after_online_of_add "a: $(new_lines "$T/a.out" | tr '\n' '|') b: $(new_lines "$T/b.out" | tr '\n' '|')"
fi

# --- errors ---
# dave lists alice, alice does not list dave; erin is mutual but has not
# sent PEER; "nobody" is offline; alice herself is nobody's contact.
need erin up e erin 1.1
say e "CONTACTS alice"
mark "$T/a.out" "$T/d.out" "$T/e.out" "$T/b.out"
say d "CALL alice" "PUNCH alice"
say a "CALL dave" "CALL nobody" "CALL erin" "PUNCH erin" "CALL alice" "CALL ALICE"
say e "CALL alice" "PUNCH alice"
need err_sync_a sync a
need err_sync_d sync d
need err_sync_e sync e
got=$(new_lines "$T/a.out" | grep '^ERR' | tr '\n' '|')
want="ERR 403 dave is not a mutual contact online|ERR 403 nobody is not a mutual contact online|ERR 403 erin is not a mutual contact online|ERR 403 erin is not a mutual contact online|ERR 403 alice is not a mutual contact online|ERR 403 alice is not a mutual contact online|"
if [ "$got" = "$want" ]; then pass call_not_mutual_offline_nopeer_self_one_text; else
	fail call_not_mutual_offline_nopeer_self_one_text "alice got $got"; fi
got=$(new_lines "$T/d.out" | grep '^ERR' | tr '\n' '|')
if [ "$got" = "ERR 403 alice is not a mutual contact online|ERR 403 alice is not a mutual contact online|" ]; then
	pass call_one_sided_refused
else
	fail call_one_sided_refused "dave got $got"
fi
got=$(new_lines "$T/e.out" | grep '^ERR' | tr '\n' '|')
if [ "$got" = "ERR 403 send PEER first|ERR 403 send PEER first|" ]; then pass call_before_peer_refused; else
	fail call_before_peer_refused "erin got $got"; fi
if sync b && quiet b '^(CALL|PUNCH)' && quiet e '^(CALL|PUNCH)' &&
	quiet d '^(CALL|PUNCH)' && quiet a '^(CALL|PUNCH)'; then
	pass call_refused_relays_nothing
else
	fail call_refused_relays_nothing "something was relayed"
fi
# Malformed lines, and bytes smuggled in a name or extra words (an address
# of the caller's choosing): a usage error, nothing relayed.
mark "$T/a.out" "$T/b.out"
say a "CALL" "CALL bob carol" "CALL b\\x01ob" "CALL bob!" "PUNCH" "PUNCH bob 192.0.2.1 25" "CALL bob " \
	"CALL $(printf 'x%.0s' $(seq 1 40))"
printf '%s\n' '!raw CALL b\x07ob\n' '!raw PUNCH bob\x09x\n' >>"$T/a.in"
need malformed_sync sync a
got=$(new_lines "$T/a.out" | grep '^ERR' | sort | uniq -c | sed 's/^ *//' | tr '\n' '|')
want="7 ERR 400 usage: CALL <name>|3 ERR 400 usage: PUNCH <name>|"
if [ "$got" = "$want" ]; then pass call_punch_malformed_usage; else fail call_punch_malformed_usage "got $got"; fi
sync b
if quiet b '^(CALL|PUNCH)'; then pass call_malformed_relays_nothing; else
	fail call_malformed_relays_nothing "bob got $(new_lines "$T/b.out" | tr '\n' '|')"; fi

# --- logout, drop and kick during a probe: the probe is cancelled ---
# A listener whose backlog is full never answers: the probe runs its full
# reach_timeout unless cancelled.
need blackhole lis bh 127.0.0.1 -B
PH=$LPORT
for mm in 1 2 3 4 5 6; do
	need "mid_$mm" up "m$mm" "mid$mm" 1.1
	say "m$mm" "CONTACTS alice"
	mark "$T/s.log"
	say "m$mm" "PEER $PH $KEYA"
	setup "probing_$mm" wait_new "$T/s.log" "reach mid$mm: probing 127\\.0\\.0\\.1:$PH" 10
	case $mm in
	1 | 2) say "m$mm" "LOGOUT" ;;
	3 | 4) say "m$mm" '!reset' ;;
	5) # a second login of the name kicks this session
		cl k5
		say k5 "LOGIN mid5 mid5-pw"
		;;
	6) say "m$mm" "PEER $PB $KEYA" ;; # probed once more after the running one
	esac
done
setup kick_mid5 seen m5 '^KICKED' 10
setup mid6_reprobed seen m6 "^REACH mid6 open $IP\$" 10
sleep 1
if ! alive "$SRV_PID"; then
	fail probe_cancel_server_alive "the server died"
elif grep -Eq 'reach mid[1-5] at' "$T/s.log"; then
	fail probe_cancel_no_result_after_logout "$(grep -E 'reach mid[1-5] at' "$T/s.log" | head -n 2 | tr '\n' '|')"
else
	pass probe_cancel_no_result_after_logout
fi
got=$(grep -E '^REACH mid6' "$T/m6.out" | tr '\n' '|')
if [ "$got" = "REACH mid6 open 127.0.0.1|" ]; then pass probe_superseded_result_not_reported; else
	fail probe_superseded_result_not_reported "mid6 got $got"; fi
# The slots came free: a new probe of the black hole times out as closed.
need late up l late 1.1
say l "PEER $PH $KEYA"
expect probe_timeout_closed l "^REACH late closed $IP\$" 10
if grep -Eq "reach late at 127\\.0\\.0\\.1:$PH: closed \\(no answer within 3 s" "$T/s.log"; then
	pass probe_timeout_logged
	pass probe_cancel_slots_freed
else
	fail probe_timeout_logged "$(grep 'reach late' "$T/s.log" | tr '\n' '|')"
fi

# --- the probe goes to the observed address only: never the LAN address
# nor the server's own side of loopback ---
need listener_h2 lis h2 127.0.0.2
PH2=$LPORT
LIS_PORT=$PH2
setup listener_h1 lis h1 127.0.0.1
LIS_PORT=
need hank up h hank 1.1 -s 127.0.0.2
say h "PEER $PH2 $KEYA 10.9.8.7"
expect reach_observed_address h '^REACH hank open 127\.0\.0\.2$' 10
wait_for "$T/h2.out" '^\*accept' 5
sleep 0.3
if [ "$(accepts h2)" -eq 1 ] && [ "$(accepts h1)" -eq 0 ] && ! grep -q 'reach hank.*10\.9\.8\.7' "$T/s.log" &&
	[ "$(grep -c "reach hank: probing 127\\.0\\.0\\.2:$PH2\$" "$T/s.log")" -eq 1 ] &&
	[ "$(grep -c 'reach hank: probing' "$T/s.log")" -eq 1 ]; then
	pass reach_probes_observed_ip_only
else
	fail reach_probes_observed_ip_only "127.0.0.2: $(accepts h2), 127.0.0.1: $(accepts h1), log: $(grep 'reach hank' "$T/s.log" | tr '\n' '|')"
fi

# --- repeating PEER cannot make a probe loop: 6 a minute ---
need listener_i lis li 127.0.0.1
PI=$LPORT
need ivan up i ivan 1.1
n=0
for port in $PI $PA $PI $PA $PI $PA $PI $PA $PI $PA; do
	mark "$T/i.out"
	say i "PEER $port $KEYA"
	seen_new i '^REACH ivan ' 10 || break
	n=$((n + 1))
done
got=$(grep '^REACH ivan' "$T/i.out" | cut -d ' ' -f 3 | tr '\n' ' ')
if [ $n -eq 10 ] && [ "$got" = "open open open open open open unknown unknown unknown unknown " ] &&
	[ "$(grep -c 'reach ivan: probing' "$T/s.log")" -eq 6 ]; then
	pass reach_rate_six_a_minute
else
	fail reach_rate_six_a_minute "$n replies, states $got, $(grep -c 'reach ivan: probing' "$T/s.log") probes"
fi
if [ "$(grep -c 'too many reachability probes for ivan' "$T/s.log")" -eq 1 ]; then pass reach_rate_logged_once; else
	fail reach_rate_logged_once "$(grep -c 'too many reachability probes for ivan' "$T/s.log") lines"; fi

# --- a client saying VERSION 1.1 after its PEER ---
need jack up j jack
say j "CONTACTS alice"
say j "PEER $PI $KEYB"
say a "ADD jack"
setup jack_online seen a "^ONLINE jack $IP $PI " 10
mark "$T/a.out" "$T/j.out"
say j "VERSION 1.1"
expect_new late_version_self_reach j "^REACH jack (unknown|open) $IP\$" 10
expect_new late_version_contacts_told a "^REACH jack (unknown|open) $IP\$" 10
expect_new late_version_probed j "^REACH jack open $IP\$" 10
expect_new late_version_told_about_contacts j "^REACH alice open $IP\$" 10
# The version is chosen once: switching it off and on again is refused
# and sends no REACH to jack or about jack (it would, without limit).
mark "$T/a.out" "$T/j.out"
say j "VERSION 1" "VERSION 1.1" "VERSION 1" "VERSION 1.1" "VERSION 1" "VERSION 1.1"
setup jack_toggled sync j
got=$(new_lines "$T/j.out" | grep -E '^(OK|ERR)' | sort | uniq -c | tr -s ' ' | tr '\n' '|')
if [ "$got" = " 6 ERR 400 version already chosen: 1.1|" ]; then pass version_second_refused; else
	fail version_second_refused "got $got"; fi
sleep 0.3
if sync a && sync j && quiet a '^REACH' && quiet j '^REACH'; then pass version_toggle_no_reach; else
	fail version_toggle_no_reach "a: $(new_lines "$T/a.out" | tr '\n' '|') j: $(new_lines "$T/j.out" | tr '\n' '|')"; fi
# ... and the connection stays 1.1: a port change is probed and told.
mark "$T/a.out" "$T/j.out"
say j "PEER $PA $KEYB"
expect_new version_kept_after_refusal a "^REACH jack (unknown|open) $IP\$" 10

no_crash server_no_crash "$T/s.log"
srv_stop server_stops

# --- reach_probe = no; max_calls ---
C2=$T/s2.conf
srv_conf "$C2" "reach_probe = no" "max_calls = 3" "data_dir = $T/data2" "log_level = debug"
need server2 srv_start "$C2" "$T/s2.log"
need listener_n lis ln 127.0.0.1
PN=$LPORT
need frank up f frank 1.1
need gina up g gina 1.1
say f "CONTACTS gina"
say g "CONTACTS frank"
say f "PEER $PN $KEYA"
expect reach_off_unknown f "^REACH frank unknown $IP\$" 10
say g "PEER $PN $KEYB"
expect reach_off_contact_unknown f "^REACH gina unknown $IP\$" 10
sleep 0.3
if [ "$(accepts ln)" -eq 0 ] && ! grep -q 'probing' "$T/s2.log"; then pass reach_off_no_probe; else
	fail reach_off_no_probe "$(accepts ln) connections"; fi
mark "$T/f.out" "$T/g.out" "$T/s2.log"
say f "CALL gina" "PUNCH gina" "CALL gina" "CALL gina" "PUNCH gina" "CALL gina"
need rate_sync sync f
got=$(new_lines "$T/f.out" | grep -E '^(OK|ERR)' | tr '\n' '|')
want="OK|OK|OK|ERR 429 too many calls, wait a minute|ERR 429 too many calls, wait a minute|ERR 429 too many calls, wait a minute|"
if [ "$got" = "$want" ]; then pass call_rate_429; else fail call_rate_429 "got $got"; fi
sync g
got=$(new_lines "$T/g.out" | grep -E '^(CALL|PUNCH)' | tr '\n' '|')
if [ "$got" = "CALL frank|PUNCH frank 127.0.0.1 $PN|CALL frank|" ]; then pass call_rate_callee_gets_allowed_only; else
	fail call_rate_callee_gets_allowed_only "gina got $got"; fi
if [ "$(new_lines "$T/s2.log" | grep -c 'too many CALL and PUNCH lines from frank')" -eq 1 ]; then
	pass call_rate_logged_once
else
	fail call_rate_logged_once "$(new_lines "$T/s2.log" | grep -c 'too many CALL')"
fi
# The order of the checks (README): not logged in, usage, send PEER first,
# the rate, then the callee. Lines refused before the rate do not count;
# from the rate on each does, also one the callee checks refuse.
need hank up h hank 1.1
say h "CONTACTS gina"
say g "ADD hank"
need hank_added sync g
need hank_contacts sync h
mark "$T/h.out" "$T/g.out"
say h "CALL" "CALL gina" "PUNCH gina" "CALL gina" "CALL gina"
say h "PEER $PN $KEYA"
setup hank_peer seen_new h "^REACH hank unknown $IP\$" 10
say h "CALL" "PUNCH gina x" "CALL nobody" "CALL gina" "PUNCH gina" "CALL nobody" "CALL" "CALL gina"
need order_sync sync h
got=$(new_lines "$T/h.out" | grep -E '^(OK|ERR)' | tr '\n' '|')
R='ERR 429 too many calls, wait a minute'
want="ERR 400 usage: CALL <name>|ERR 403 send PEER first|ERR 403 send PEER first|ERR 403 send PEER first|ERR 403 send PEER first|OK|ERR 400 usage: CALL <name>|ERR 400 usage: PUNCH <name>|ERR 403 nobody is not a mutual contact online|OK|OK|$R|ERR 400 usage: CALL <name>|$R|"
if [ "$got" = "$want" ]; then pass call_error_order_and_charges; else fail call_error_order_and_charges "got $got"; fi
sync g
got=$(new_lines "$T/g.out" | grep -E '^(CALL|PUNCH)' | tr '\n' '|')
if [ "$got" = "CALL hank|PUNCH hank 127.0.0.1 $PN|" ]; then pass call_order_callee_gets_allowed_only; else
	fail call_order_callee_gets_allowed_only "gina got $got"; fi
no_crash server2_no_crash "$T/s2.log"
srv_stop server2_stops

# --- max_probes = 1: the rest wait in a FIFO, every session gets its REACH;
# sessions that end while queued are never probed ---
C3=$T/s3.conf
# (all from 127.0.0.1: the per-address cap is tested below)
srv_conf "$C3" "max_probes = 1" "reach_timeout = 5" "max_probes_per_ip = 1024" "data_dir = $T/data3" \
	"log_level = debug"
need server3 srv_start "$C3" "$T/s3.log"
need blackhole3 lis bh3 127.0.0.1 -B
PH3=$LPORT
need listener_q lis lq 127.0.0.1
PQ=$LPORT
for qq in 1 2 3 4 5 r1 r2 r3; do need "q$qq" up "q$qq" "q$qq" 1.1; done
say q1 "PEER $PH3 $KEYA"
wait_for "$T/s3.log" 'reach q1: probing' 10
# one after the other (each PEER taken before the next is sent), while
# q1's probe holds the only slot
for qq in 2 r1 r2 3 4 r3 5; do
	say "q$qq" "PEER $PQ $KEYA"
	case $qq in
	r1) sync qr1 && say qr1 LOGOUT ;;
	r2) sync qr2 && say qr2 '!reset' ;;
	r3) say qr3 LOGOUT ;; # right behind its PEER
	*) sync "q$qq" ;;
	esac
done
ok=1
expect queue_first_closed q1 "^REACH q1 closed $IP\$" 10
for qq in 2 3 4 5; do seen "q$qq" "^REACH q$qq open $IP\$" 15 || ok=0; done
wait_for "$T/lq.out" '^\*accept' 5
sleep 0.3
# In the log, every later probe starts after q1's ended, one at a time.
order=$(grep -E 'reach q[0-9]+(: probing| at )' "$T/s3.log" | sed -E 's/.*reach (q[0-9]+)(: probing| at ).*/\1\2/; s/: probing/+/; s/ at /-/' | tr -d '\n')
if [ $ok -eq 1 ] && [ "$(accepts lq)" -eq 4 ] &&
	[ "$order" = "q1+q1-q2+q2-q3+q3-q4+q4-q5+q5-" ] && ! grep -q 'reach qr' "$T/s3.log"; then
	pass max_probes_fifo_one_at_a_time
else
	fail max_probes_fifo_one_at_a_time "all got REACH: $ok, accepts $(accepts lq), order $order, $(grep 'reach qr' "$T/s3.log" | head -n 2)"
fi
no_crash server3_no_crash "$T/s3.log"
srv_stop server3_stops

# --- probes_per_minute = 2; max_probes_per_ip = 2: four sessions behind
# 127.0.0.1 announcing ports that never answer hold 2 probes, not all
# max_probes = 3: 127.0.0.2's probe goes ahead at once; the 3rd and 4th
# are unknown at once; a cancelled, a queued-then-gone and an ended probe
# each give their share back ---
C4=$T/s4.conf
srv_conf "$C4" "max_probes = 3" "max_probes_per_ip = 2" "probes_per_minute = 2" "reach_timeout = 10" \
	"data_dir = $T/data4" "log_level = debug" "max_signups_per_ip = 1000"
need server4 srv_start "$C4" "$T/s4.log"
need bh4 lis bh4 127.0.0.1 -B
PH4=$LPORT
need bhx lis bhx 127.0.0.2 -B
PHX=$LPORT
need lo4 lis lo4 127.0.0.1
PL4=$LPORT
need lob4 lis lob4 127.0.0.1
PLB4=$LPORT
need lx4 lis lx4 127.0.0.2
PX4=$LPORT
need lxb4 lis lxb4 127.0.0.2
PXB4=$LPORT
IP2=127\\.0\\.0\\.2

# the rate: 2 probes, then unknown (each PEER a new port)
need rr up rr rr 1.1
n=0
for port in $PL4 $PLB4 $PL4 $PLB4; do
	mark "$T/rr.out"
	say rr "PEER $port $KEYA"
	seen_new rr '^REACH rr ' 10 || break
	n=$((n + 1))
done
got=$(grep '^REACH rr' "$T/rr.out" | cut -d ' ' -f 3 | tr '\n' ' ')
if [ $n -eq 4 ] && [ "$got" = "open open unknown unknown " ] &&
	[ "$(grep -c 'reach rr: probing' "$T/s4.log")" -eq 2 ]; then
	pass probes_per_minute_two
else
	fail probes_per_minute_two "$n replies, states $got, $(grep -c 'reach rr: probing' "$T/s4.log") probes"
fi
if [ "$(grep -c 'too many reachability probes for rr (probes_per_minute 2)' "$T/s4.log")" -eq 1 ]; then
	pass probes_per_minute_logged_once
else
	fail probes_per_minute_logged_once "$(grep 'too many reachability probes for rr' "$T/s4.log" | tr '\n' '|')"
fi

for pp in 1 2 3 4; do need "p$pp" up "p$pp" "p$pp" 1.1 -w 120; done
for yy in x 1 2 3; do need "y$yy" up "y$yy" "y$yy" 1.1 -w 120 -s 127.0.0.2; done
# p1 and p2 hold 127.0.0.1's two probes (10 s each)
for pp in 1 2; do
	mark "$T/s4.log"
	say "p$pp" "PEER $PH4 $KEYA"
	need "p${pp}_probing" wait_new "$T/s4.log" "reach p$pp: probing 127\\.0\\.0\\.1:$PH4\$" 10
done
# p3 and p4: unknown at once (before the reply to the next line), no probe
for pp in 3 4; do
	mark "$T/p$pp.out"
	say "p$pp" "PEER $PH4 $KEYA"
	setup "p${pp}_sync" sync "p$pp"
	got=$(new_lines "$T/p$pp.out" | tr '\n' '|')
	if [ "$got" = "OK|REACH p$pp unknown 127.0.0.1|PONG sync$SYNC|" ] && ! grep -q "reach p$pp: probing" "$T/s4.log"; then
		pass "per_ip_cap_unknown_at_once_p$pp"
	else
		fail "per_ip_cap_unknown_at_once_p$pp" "got $got; $(grep "reach p$pp" "$T/s4.log" | tr '\n' '|')"
	fi
done
# yx behind 127.0.0.2: the third slot, at once, while 127.0.0.1's black
# holes still run
mark "$T/yx.out"
t0=$(date +%s%N)
say yx "PEER $PX4 $KEYA"
setup yx_reach seen_new yx "^REACH yx open $IP2\$" 10
t1=$(date +%s%N)
el=$(((t1 - t0) / 1000000))
if [ "$el" -lt 1000 ] && [ "$(accepts lx4)" -eq 1 ] && ! grep -Eq 'reach p[12] at' "$T/s4.log"; then
	pass per_ip_cap_other_address_not_delayed
else
	fail per_ip_cap_other_address_not_delayed "REACH open after $el ms, $(accepts lx4) accepts, $(grep -E 'reach p[12] at' "$T/s4.log" | tr '\n' '|')"
fi
echo "# 127.0.0.2's REACH open after $el ms (the 127.0.0.1 probes take 10 s)"
if [ "$(grep -c 'reachability probes refused for max_probes_per_ip' "$T/s4.log")" -eq 1 ] &&
	grep -q 'reachability probes refused for max_probes_per_ip (2 queued or under way for one address): 1 in the last minute, the latest for p3 from 127\.0\.0\.1; their state is unknown' "$T/s4.log"; then
	pass per_ip_cap_logged_once
else
	fail per_ip_cap_logged_once "$(grep 'refused for max_probes_per_ip' "$T/s4.log" | tr '\n' '|')"
fi

# A queued probe counts: y1 fills max_probes (a black hole on 127.0.0.2),
# y2 waits in the queue, so y3 is refused; y2 logs out while queued: y3's
# next PEER is queued, not refused.
mark "$T/s4.log"
say y1 "PEER $PHX $KEYA"
need y1_probing wait_new "$T/s4.log" "reach y1: probing 127\\.0\\.0\\.2:$PHX\$" 10
mark "$T/y2.out" "$T/y3.out"
say y2 "PEER $PXB4 $KEYA"
setup y2_sync sync y2
say y3 "PEER $PX4 $KEYA"
setup y3_sync sync y3
if quiet y2 '^REACH' && [ "$(new_lines "$T/y3.out" | grep '^REACH')" = "REACH y3 unknown 127.0.0.2" ]; then
	pass per_ip_cap_counts_queued
else
	fail per_ip_cap_counts_queued "y2: $(new_lines "$T/y2.out" | tr '\n' '|') y3: $(new_lines "$T/y3.out" | tr '\n' '|')"
fi
say y2 LOGOUT
setup y2_gone wait_for "$T/s4.log" 'logout y2 from' 10
mark "$T/y3.out"
say y3 "PEER $PXB4 $KEYA"
setup y3_sync2 sync y3
if quiet y3 '^REACH'; then pass per_ip_queued_then_gone_freed; else
	fail per_ip_queued_then_gone_freed "y3 got $(new_lines "$T/y3.out" | tr '\n' '|')"; fi

# p1 logs out mid-probe: its slot goes to the queued y3, its share of
# 127.0.0.1 to p3's next PEER.
say p1 LOGOUT
expect_new per_ip_queued_probe_runs_after_cancel y3 "^REACH y3 open $IP2\$" 10
mark "$T/p3.out"
say p3 "PEER $PL4 $KEYA"
expect_new per_ip_freed_by_cancel p3 "^REACH p3 open $IP\$" 10
# p3 holds a share again (a black hole): 127.0.0.1 is full, p4 refused;
# once p2's probe ends, p4 probes.
mark "$T/s4.log"
say p3 "PEER $PH4 $KEYA"
setup p3_probing wait_new "$T/s4.log" "reach p3: probing 127\\.0\\.0\\.1:$PH4\$" 10
mark "$T/p4.out"
say p4 "PEER $PL4 $KEYA"
setup p4_sync sync p4
if [ "$(new_lines "$T/p4.out" | grep '^REACH')" = "REACH p4 unknown 127.0.0.1" ]; then
	pass per_ip_cap_still_exact
else
	fail per_ip_cap_still_exact "p4 got $(new_lines "$T/p4.out" | tr '\n' '|')"
fi
setup p2_closed seen p2 "^REACH p2 closed $IP\$" 15
mark "$T/p4.out"
say p4 "PEER $PLB4 $KEYA"
expect_new per_ip_freed_by_probe_end p4 "^REACH p4 open $IP\$" 10
if grep -Eq 'reach (p1 at|y2)' "$T/s4.log"; then
	fail per_ip_cancelled_never_probed "$(grep -E 'reach (p1 at|y2)' "$T/s4.log" | tr '\n' '|')"
else
	pass per_ip_cancelled_never_probed
fi
no_crash server4_no_crash "$T/s4.log"
# p3's probe is still running at the stop; the refusals not logged yet
# (p4, y3, p4 again) are logged then, with their count.
srv_stop server4_stops
if [ "$(grep -c 'refused for max_probes_per_ip' "$T/s4.log")" -eq 2 ] &&
	grep 'refused for max_probes_per_ip' "$T/s4.log" | tail -n 1 | grep -q ': 3 in the last minute, the latest for p4 from 127\.0\.0\.1;'; then
	pass per_ip_cap_count_logged
else
	fail per_ip_cap_count_logged "$(grep 'refused for max_probes_per_ip' "$T/s4.log" | tr '\n' '|')"
fi

# --- over probes_per_minute while a probe of the old port runs: unknown at
# once, and the old probe is dropped (its result would be taken for the
# new port; it held its address's share of max_probes_per_ip) ---
C5=$T/s5.conf
srv_conf "$C5" "probes_per_minute = 2" "max_probes_per_ip = 1" "reach_timeout = 3" \
	"data_dir = $T/data5" "log_level = debug"
need server5 srv_start "$C5" "$T/s5.log"
need bh5 lis bh5 127.0.0.1 -B
PH5=$LPORT
need lo5 lis lo5 127.0.0.1
PL5=$LPORT
need lob5 lis lob5 127.0.0.1
PLB5=$LPORT
need st up st st 1.1
need sv up sv sv 1.1
say st "PEER $PL5 $KEYA"
setup st_open seen st "^REACH st open $IP\$" 10
mark "$T/s5.log"
say st "PEER $PH5 $KEYA"
setup st_probing wait_new "$T/s5.log" "reach st: probing 127\\.0\\.0\\.1:$PH5\$" 10
mark "$T/st.out"
say st "PEER $PLB5 $KEYA"
setup st_sync sync st
got=$(new_lines "$T/st.out" | tr '\n' '|')
if [ "$got" = "OK|REACH st unknown 127.0.0.1|PONG sync$SYNC|" ]; then pass rate_over_while_probing_unknown; else
	fail rate_over_while_probing_unknown "got $got"; fi
mark "$T/sv.out" "$T/st.out"
say sv "PEER $PL5 $KEYA"
setup sv_reach seen_new sv "^REACH sv " 10
if [ "$(new_lines "$T/sv.out" | grep '^REACH sv')" = "REACH sv open 127.0.0.1" ]; then
	pass old_probe_dropped_share_freed
else
	fail old_probe_dropped_share_freed "sv got $(new_lines "$T/sv.out" | tr '\n' '|')"
fi
# past reach_timeout: the black hole's probe would have ended by now
sleep 4.5
if sync st && quiet st '^REACH' && ! grep -q "reach st at 127\.0\.0\.1:$PH5: " "$T/s5.log"; then
	pass old_probe_never_reported
else
	fail old_probe_never_reported "st: $(new_lines "$T/st.out" | tr '\n' '|') log: $(grep "reach st at" "$T/s5.log" | tr '\n' '|')"
fi
no_crash server5_no_crash "$T/s5.log"
srv_stop server5_stops
