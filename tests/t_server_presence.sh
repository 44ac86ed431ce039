#!/bin/sh
# t_server_presence: DESIGN's mutual presence rule through real TLS:
# ONLINE both ways, ASKED and adding back, presence withheld until PEER,
# PEER changes re-announced, DEL, CONTACTS sending only differences,
# OFFLINE on LOGOUT and on a killed client, KICKED on a second login.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

C=$T/s.conf
srv_conf "$C"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi
IP=127\\.0\\.0\\.1

# --- mutual: both list each other, both sent PEER ---
need alice signup a alice 4001 "$KEYA"
need bob signup b bob
say a "CONTACTS bob"
sync a
say b "CONTACTS alice"
sync b
lacks presence_withheld_until_peer_b b '^ONLINE '
lacks presence_withheld_until_peer_a a '^ONLINE '
say b "PEER 4002 $KEYB 192.168.7.2"
expect presence_mutual_online_to_newcomer b "^ONLINE alice $IP 4001 $KEYA\$"
expect presence_mutual_online_to_contact a "^ONLINE bob $IP 4002 $KEYB 192\\.168\\.7\\.2\$"
lacks presence_no_asked_when_mutual a '^ASKED '

# --- PEER change re-announced; an unchanged PEER is not ---
say b "PEER 4012 $KEYB"
expect presence_peer_change_reannounced a "^ONLINE bob $IP 4012 $KEYB\$"
say b "PEER 4012 $KEYB"
sync b
if sync a && [ "$(count a '^ONLINE bob ')" -eq 2 ]; then pass presence_same_peer_not_reannounced; else
	fail presence_same_peer_not_reannounced "$(grep '^ONLINE bob' "$T/a.out" | tr '\n' '|')"; fi

# --- one-sided: ASKED, then ADD back ---
need carol signup c carol 4003 "$KEYC"
say c "CONTACTS alice"
expect presence_asked_when_listed a '^ASKED carol$'
lacks presence_one_sided_no_online_c c '^ONLINE alice'
lacks presence_one_sided_no_online_a a '^ONLINE carol'
say a "ADD carol"
expect presence_add_back_online_a a "^ONLINE carol $IP 4003 $KEYC\$"
expect presence_add_back_online_c c "^ONLINE alice $IP 4001 $KEYA\$"
lacks presence_bob_not_told_about_carol b 'carol'

# --- ASKED at login while it stands (and only after PEER) ---
say c "ADD dave"
need dave signup d dave
lacks presence_asked_withheld_until_peer d '^ASKED'
say d "PEER 4004 $KEYD"
expect presence_asked_at_login d '^ASKED carol$'
say d "LOGOUT"
setup dave_logout seen d '^\*closed'
need dave_again login d2 dave 4004 "$KEYD"
expect presence_asked_again_at_next_login d2 '^ASKED carol$'

# --- ASKED once, also when CONTACTS comes before PEER ---
need frank signup f frank
say f "CONTACTS alice"
sync f
say f "PEER 4006 $KEYD"
sync f
seen a '^ASKED frank$'
if sync a && [ "$(count a '^ASKED frank$')" -eq 1 ]; then pass presence_asked_once_contacts_before_peer; else
	fail presence_asked_once_contacts_before_peer "alice got ASKED frank $(count a '^ASKED frank$') times"; fi

# --- ASKED once, when the asker sends PEER after the asked one logged in ---
need gina signup g gina
say g "CONTACTS hank"
sync g
need hank signup h hank 4007 "$KEYA"
sync h
say g "PEER 4008 $KEYB"
sync g
seen h '^ASKED gina$'
if sync h && [ "$(count h '^ASKED gina$')" -eq 1 ]; then pass presence_asked_once_asker_peers_late; else
	fail presence_asked_once_asker_peers_late "hank got ASKED gina $(count h '^ASKED gina$') times"; fi
say f "LOGOUT"

# --- DEL: OFFLINE both ways ---
say a "DEL carol"
expect presence_del_offline_to_deleter a '^OFFLINE carol$'
expect presence_del_offline_to_other c '^OFFLINE alice$'
lacks presence_del_tells_no_one_else b 'OFFLINE'

# --- CONTACTS replaces and sends only the differences ---
# alice lists bob; set bob + carol (carol lists alice): one ONLINE carol,
# nothing about bob; then drop bob: OFFLINE bob only.
na_bob=$(count a '^ONLINE bob ')
nc_alice=$(count c '^ONLINE alice ')
mark "$T/a.out"
say a "CONTACTS bob carol"
setup contacts_online_carol seen_new a '^ONLINE carol ' && sync a && sync b && sync c
if [ "$(count a '^ONLINE carol ')" -eq 2 ] && [ "$(count a '^ONLINE bob ')" -eq "$na_bob" ] &&
	[ "$(count c '^ONLINE alice ')" -eq $((nc_alice + 1)) ] && [ "$(count b '^(ONLINE|OFFLINE) alice')" -eq 1 ]; then
	pass presence_contacts_only_differences_added
else
	fail presence_contacts_only_differences_added "a: $(grep -E '^(ONLINE|OFFLINE)' "$T/a.out" | cut -c 1-20 | tr '\n' '|')"
fi
say a "CONTACTS carol"
expect presence_contacts_removed_offline a '^OFFLINE bob$'
expect presence_contacts_removed_offline_other b '^OFFLINE alice$'
sync c
if [ "$(count c '^OFFLINE alice')" -eq 1 ] && [ "$(count a '^OFFLINE carol')" -eq 1 ]; then
	pass presence_contacts_kept_untouched
else
	fail presence_contacts_kept_untouched "c: $(grep OFFLINE "$T/c.out" | tr '\n' '|') a: $(grep OFFLINE "$T/a.out" | tr '\n' '|')"
fi
mark "$T/a.out"
say a "CONTACTS bob carol"
expect_new presence_contacts_readd_online a "^ONLINE bob $IP 4012 $KEYB\$"

# --- OFFLINE on LOGOUT ---
need erin signup e erin 4005 "$KEYD"
say e "CONTACTS alice"
say a "ADD erin"
setup erin_online seen a '^ONLINE erin '
say e "LOGOUT"
expect presence_offline_on_logout a '^OFFLINE erin$'

# --- OFFLINE on an abrupt close: the client process killed ---
mark "$T/a.out"
need erin_again login e2 erin 4005 "$KEYD"
say e2 "CONTACTS alice"
setup killed_erin_online seen_new a '^ONLINE erin ' && setup killed_erin_sees_alice seen e2 '^ONLINE alice'
setup erin_session_file [ -e "$T/data/run/erin" ]
mark "$T/a.out"
eval "kill -9 \$PID_e2"
if seen_new a '^OFFLINE erin$' 10 && sync a && [ "$(new_lines "$T/a.out" | grep -c '^OFFLINE erin$')" -eq 1 ]; then
	pass presence_offline_on_killed_client
else
	fail presence_offline_on_killed_client "after the kill: $(new_lines "$T/a.out" | tr '\n' '|')"
fi
if [ ! -e "$T/data/run/erin" ]; then pass presence_killed_client_session_file_removed; else
	fail presence_killed_client_session_file_removed "still there"; fi

# --- KICKED on a second login; the contact sees OFFLINE, then the new ONLINE ---
mark "$T/a.out"
cl b2
say b2 "LOGIN bob bob-pw"
expect presence_second_login_ok b2 '^OK bob$'
expect presence_kicked_old_session b '^KICKED '
expect presence_kicked_old_closed b '^\*closed$'
expect_new presence_kick_offline_to_contact a '^OFFLINE bob$'
say b2 "PEER 4022 $KEYB" "CONTACTS alice"
expect_new presence_kick_new_online_to_contact a "^ONLINE bob $IP 4022 $KEYB\$"
expect presence_kick_new_session_sees_contact b2 "^ONLINE alice $IP 4001 $KEYA\$"
last=$(grep -nE '^(ONLINE|OFFLINE) bob' "$T/a.out" | tail -n 2 | sed 's/^[0-9]*://' | cut -d' ' -f1 | tr '\n' ' ')
if [ "$last" = "OFFLINE ONLINE " ]; then pass presence_kick_order_offline_then_online; else
	fail presence_kick_order_offline_then_online "last two: $last"; fi
if grep -q '^port=4022$' "$T/data/run/bob" 2>/dev/null; then pass presence_kick_session_file_is_new; else
	fail presence_kick_session_file_is_new "$(tr '\n' ' ' <"$T/data/run/bob" 2>&1)"; fi

# --- an IPv6 lan address travels as is ---
say b2 "PEER 4022 $KEYB fd00::42"
expect presence_lan_ipv6 a "^ONLINE bob $IP 4022 $KEYB fd00::42\$"

srv_stop presence_sigterm_exit_0
open_ids=""
for id in a c d2 b2; do
	seen "$id" '^\*closed$' || open_ids="$open_ids $id"
done
if [ -z "$open_ids" ]; then pass presence_sigterm_closes_clients; else
	fail presence_sigterm_closes_clients "still connected:$open_ids"; fi
no_crash presence_no_crash "$T/s.log"
