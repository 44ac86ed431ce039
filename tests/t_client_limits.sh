#!/bin/sh
# t_client_limits: the client's own bounds. A contacts file of 200 names
# and a burst of 150 adds all reach the server (no server command is
# dropped); a contacts file that cannot be written gives an error, not a
# crash; messages queued for a peer that does not answer are capped
# ("busy"); quitting waits for the ACKs of messages in flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"

srv_conf "$T/s.conf"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&- 7>&-; then
	fail limits_server_start "no readiness line"
	exit 1
fi

# session_contacts NAME: how many contacts the server's session file of
# NAME lists.
session_contacts() {
	sed -n 's/^contacts=//p' "$T/data/run/$1" 2>/dev/null | wc -w
}

# wait_contacts NAME N SECONDS: waits until the session file lists N.
wait_contacts() {
	i=0
	while [ "$(session_contacts "$1")" -ne "$2" ] && [ $i -lt $(($3 * 20)) ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(session_contacts "$1")" -eq "$2" ]
}

# --- a contacts file of 200 names: ready comes, the server has them all ---
mkdir -m 700 "$T/many"
i=1
while [ $i -le 200 ]; do
	echo "friend$i"
	i=$((i + 1))
done >"$T/many/contacts"
cli_conf many
cli_start many 3
tell many "signup many many-pw"
want limits_200_contacts_ready many '^ready many$' 15
if wait_contacts many 200 5; then pass limits_200_contacts_on_server; else
	fail limits_200_contacts_on_server "session file lists $(session_contacts many) of 200"; fi

# --- 150 adds in one burst all land ---
cli_conf burst
cli_start burst 4
tell burst "signup burst burst-pw"
setup burst_ready got burst '^ready burst$'
i=1
while [ $i -le 150 ]; do
	echo "add pal$i"
	i=$((i + 1))
done >&4
if wait_contacts burst 150 10 && [ "$(grep -c . "$T/burst/contacts")" -eq 150 ] &&
	! grep -q '^error' "$T/burst.out"; then
	pass limits_150_adds_in_a_burst
else
	fail limits_150_adds_in_a_burst "server has $(session_contacts burst), file $(grep -c . "$T/burst/contacts"); $(grep '^error' "$T/burst.out" | head -n 2 | tr '\n' '|')"
fi

# --- the contacts file cannot be written: an error, and the client goes on ---
cli_conf ro
cli_start ro 5
tell ro "signup ro ro-pw" "add dave"
setup ro_ready got ro '^ready ro$'
rm -f "$T/ro/contacts"
mkdir "$T/ro/contacts"
tell ro "add carol"
want limits_unwritable_contacts_error ro '^error cannot add carol to .*/contacts: '
mark "$T/ro.out"
tell ro "del dave" "who"
want limits_unwritable_del_error ro '^error cannot remove dave from .*/contacts: '
if got_new ro '^offline dave$' 5 && ! grep -q '^offline carol$' "$T/ro.out"; then
	pass limits_unwritable_still_answers
else
	fail limits_unwritable_still_answers "$(tail -n 3 "$T/ro.out" | tr '\n' '|')"
fi

# --- a peer that stops reading: the queue is capped, extras fail "busy" ---
cli_conf ann "max_queued_messages = 8"
cli_conf ben
cli_start ann 6
cli_start ben 7
tell ann "signup ann ann-pw" "add ben"
tell ben "signup ben ben-pw" "add ann"
need ann_sees_ben got ann '^online ben '
need ben_sees_ann got ben '^online ann '
tell ann "msg ben hello"
need ann_sent_1 got ann '^sent ben 1$'
eval "kill -STOP \$CPID_ben"
i=2
while [ $i -le 21 ]; do
	echo "msg ben queued $i"
	i=$((i + 1))
done >&6
if got_n ann '^failed ben [0-9]+ busy$' 12 5 && [ "$(grep -c '^failed ben' "$T/ann.out")" -eq 12 ] &&
	grep -q '^failed ben 10 busy$' "$T/ann.out" && grep -q '^failed ben 21 busy$' "$T/ann.out"; then
	pass limits_queue_cap_busy
else
	fail limits_queue_cap_busy "$(grep '^failed' "$T/ann.out" | tr '\n' '|')"
fi
eval "kill -CONT \$CPID_ben"
if got ann '^sent ben 9$' 10 && [ "$(grep -c '^sent ben' "$T/ann.out")" -eq 9 ]; then
	pass limits_queue_cap_queued_delivered
else
	fail limits_queue_cap_queued_delivered "$(tail -n 3 "$T/ann.out" | tr '\n' '|')"
fi

# --- end of input right after a message: it is acknowledged before bye ---
tell ann "msg ben last words"
cli_eof ann
if cli_wait ann 10 && grep -q '^sent ben 22$' "$T/ann.out" &&
	[ "$(grep -n '^sent ben 22$' "$T/ann.out" | cut -d: -f1)" -lt "$(grep -n '^bye$' "$T/ann.out" | cut -d: -f1)" ]; then
	pass limits_quit_waits_for_acks
else
	fail limits_quit_waits_for_acks "$(tail -n 3 "$T/ann.out" | tr '\n' '|')"
fi
if grep -qx 'msg ann 22 last words' "$T/ben.out"; then pass limits_quit_last_delivered; else
	fail limits_quit_last_delivered "$(tail -n 2 "$T/ben.out" | tr '\n' '|')"; fi

for id in many burst ro ben; do cli_eof $id; done
for id in many burst ro ben; do cli_wait $id 5; done
srv_stop limits_server_stops
no_crash limits_no_crash "$T/s.log" "$T/many.err" "$T/burst.err" "$T/ro.err" "$T/ann.err" "$T/ben.err"
