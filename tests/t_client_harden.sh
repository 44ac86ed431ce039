#!/bin/sh
# t_client_harden: what the client trusts and shows. A contact's text and
# the server's words never reach stdout raw: batch events escape controls
# (\r \t \xHH) and stay one line each, the interactive UI (on a
# pseudo-terminal) shows controls, C1 and bidirectional overrides as visible
# escapes; a peer's message id that is not 1-32 printable ASCII is refused
# and the link closes; a peer with no certificate is logged as such; a key
# that cannot be stored stays pinned in memory (server and contacts), with
# an error, so a changed key is refused and no password goes to it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
PROBE=$TOP/build/tests/peerprobe

srv_conf "$T/s.conf"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; then
	fail harden_server_start "no readiness line"
	exit 1
fi

# ctrl FILE: prints the lines of FILE holding a control byte (not the
# newline) or DEL.
ctrl() { LC_ALL=C grep -an "$(printf '[\001-\011\013-\037\177]')" "$1"; }
# rawbidi FILE: prints the lines of FILE holding a raw C1 control or a
# bidirectional override (what a terminal must not get).
rawbidi() { LC_ALL=C grep -an "$(printf '\302[\200-\237]\\|\342\200[\252-\256]\\|\342\201[\246-\251]')" "$1"; }

# --- alice and bob, mutual contacts, in batch mode ---
cli_conf alice
cli_conf bob
cli_start alice 3
cli_start bob 4
tell alice "signup alice alice-pw" "add bob"
tell bob "signup bob bob-pw" "add alice"
if ! got alice '^online bob ' || ! got bob '^online alice '; then
	fail harden_setup_mutual "alice: $(tail -n 3 "$T/alice.out" | tr '\n' '|') bob: $(tail -n 3 "$T/bob.out" | tr '\n' '|')"
	exit 1
fi
ALICEPORT=$(peer_port_of bob alice)

# --- finding 6: a contact's text in batch events, byte for byte ---
# The probe is "bob" (his key); every line is a real MSG with control bytes.
"$PROBE" -w 10 dial "$T/bob/id.key" "$T/bob/id.crt" 127.0.0.1 "$ALICEPORT" bob \
	"$(printf 'MSG h1 hello\rmsg bob2 77 forged')" \
	"$(printf 'MSG h2 \033]0;pwned\007\033[2J\033[1Ax\177\tend')" \
	"$(printf 'MSG h3 a\302\205msg bob forged\342\200\250x')" \
	"$(printf 'MSG h4 abc\342\200\256evil')" \
	'MSG h5 back\\slash \n kept' BYE >"$T/h.probe" 2>&1
{
	printf '%s\n' 'msg bob h1 hello\rmsg bob2 77 forged'
	printf '%s\n' 'msg bob h2 \x1b]0;pwned\x07\x1b[2J\x1b[1Ax\x7f\tend'
	printf 'msg bob h3 a\302\205msg bob forged\342\200\250x\n'
	printf 'msg bob h4 abc\342\200\256evil\n'
	printf '%s\n' 'msg bob h5 back\\slash \n kept'
} >"$T/h.want"
acks=0
for id in h1 h2 h3 h4 h5; do grep -qx "< ACK $id" "$T/h.probe" && acks=$((acks + 1)); done
if [ $acks -ne 5 ]; then
	fail harden_batch_hostile_text_acked "$acks of 5 acknowledged: $(tr '\n' '|' <"$T/h.probe")"
else
	pass harden_batch_hostile_text_acked
fi
got alice '^msg bob h5 ' 5
grep -a '^msg bob h' "$T/alice.out" >"$T/h.got"
if cmp -s "$T/h.got" "$T/h.want"; then pass harden_batch_controls_escaped_exactly; else
	fail harden_batch_controls_escaped_exactly "got $(od -c "$T/h.got" | head -n 12 | tr '\n' '|')"; fi
if grep -q '^msg bob2 ' "$T/alice.out" || [ -n "$(ctrl "$T/alice.out")" ]; then
	fail harden_batch_one_printable_line_per_event "$(ctrl "$T/alice.out" | od -c | head -n 5 | tr '\n' '|')"
else
	pass harden_batch_one_printable_line_per_event
fi
# Splitting at \r as well (universal newlines) finds no forged event
# either. (DESIGN escapes C0 controls and DEL only: C1 controls such as
# U+0085 and the separators U+2028/U+2029 reach a script as they came, so
# a script must split events at \n only, not with str.splitlines.)
forged=$(LC_ALL=C tr '\r' '\n' <"$T/alice.out" | grep -ac '^msg bob2 ')
if [ "$forged" -eq 0 ]; then pass harden_batch_no_forged_event_at_cr; else
	fail harden_batch_no_forged_event_at_cr "$forged forged events"; fi

# --- finding 6: message ids that are not 1-32 printable ASCII are refused ---
# Each goes on a fresh link: the bad line is not shown or acknowledged, the
# link closes, and a good MSG after it on that link is never read.
n=0
for bad in "$(printf 'MSG \033[2J b1-text')" "$(printf 'MSG a\tb b2-text')" \
	'MSG 0123456789abcdef0123456789abcdef0 b3-text' 'MSG ü b4-text' 'MSG  b5-text' \
	"$(printf 'MSG id\177 b6-text')" "$(printf 'MSG 1\342\200\256 b7-text')"; do
	n=$((n + 1))
	"$PROBE" -w 8 dial "$T/bob/id.key" "$T/bob/id.crt" 127.0.0.1 "$ALICEPORT" bob "$bad" "MSG ok$n after-$n" \
		>"$T/b$n.probe" 2>&1
	if grep -q '^< ACK' "$T/b$n.probe" || ! grep -q '^\*closed' "$T/b$n.probe" ||
		grep -aEq "b$n-text|after-$n" "$T/alice.out"; then
		fail harden_bad_msg_id_refused_$n "$(tr '\n' '|' <"$T/b$n.probe") alice: $(grep -aE "b$n-text|after-$n" "$T/alice.out" | od -c | head -n 3 | tr '\n' '|')"
	else
		pass harden_bad_msg_id_refused_$n
	fi
done
if [ "$(grep -ac 'MSG with a bad id' "$T/alice.err")" -eq $n ] && [ -z "$(ctrl "$T/alice.err")" ] &&
	[ -z "$(rawbidi "$T/alice.err")" ]; then
	pass harden_bad_msg_id_logged_printable
else
	fail harden_bad_msg_id_logged_printable "$(grep -c 'MSG with a bad id' "$T/alice.err") warnings; $(ctrl "$T/alice.err" | head -n 2 | od -c | head -n 3 | tr '\n' '|')"
fi
# The same link still takes a good id of 32 printable characters.
"$PROBE" -w 10 dial "$T/bob/id.key" "$T/bob/id.crt" 127.0.0.1 "$ALICEPORT" bob \
	'MSG !#$%&()*+,-./0123456789:;<=>?@[ still fine' BYE >"$T/g.probe" 2>&1
if grep -Fqx '< ACK !#$%&()*+,-./0123456789:;<=>?@[' "$T/g.probe" &&
	grep -Fqx 'msg bob !#$%&()*+,-./0123456789:;<=>?@[ still fine' "$T/alice.out"; then
	pass harden_msg_id_32_printable_accepted
else
	fail harden_msg_id_32_printable_accepted "$(tr '\n' '|' <"$T/g.probe")"
fi

# --- finding 13: a peer with no certificate is logged as such ---
before=$(grep -ac 'claiming bob' "$T/alice.err")
"$PROBE" -w 8 -n dial x x 127.0.0.1 "$ALICEPORT" bob 'MSG n1 no cert here' >"$T/n.probe" 2>&1
i=0
while [ "$(grep -ac 'claiming bob' "$T/alice.err")" -le "$before" ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
line=$(grep -a 'claiming bob' "$T/alice.err" | tail -n +$((before + 1)) | head -n 1)
if grep -q '^\*open' "$T/n.probe" && ! grep -q '^< ' "$T/n.probe" && ! grep -q 'no cert here' "$T/alice.out" &&
	printf '%s' "$line" | grep -aq 'claiming bob presented no certificate' &&
	! printf '%s' "$line" | LC_ALL=C grep -q '[^ -~]'; then
	pass harden_no_certificate_logged_clearly
else
	fail harden_no_certificate_logged_clearly "$(tr '\n' '|' <"$T/n.probe") log: $(printf '%s' "$line" | od -c | head -n 6 | tr '\n' '|')"
fi

# --- finding 6: the server's words (a fake server: peerprobe listen) ---
SAVEPORT=$PORT
# fake_server ID LINE...: a login server that sends LINEs, for client ID.
fake_server() {
	fid=$1
	shift
	# A version-1 server: the client's first line, VERSION 1.1, is
	# unknown to it.
	g=$1
	shift
	set -- "$g" 'ERR 400 unknown command: VERSION' "$@"
	: >"$T/$fid.fake"
	"$PROBE" -w 20 listen "$T/fake.key" "$T/fake.crt" fake "$@" >"$T/$fid.fake" 2>&1 3>&- 4>&- 5>&- &
	PIDS="$PIDS $!"
	wait_for "$T/$fid.fake" '^\*port ' 10 || return 1
	PORT=$(sed -n 's/^\*port //p' "$T/$fid.fake")
	cli_conf "$fid"
	PORT=$SAVEPORT
}
if fake_server carol "$(printf 'IM 1 evil\033]0;title\007')" "$(printf 'ERR 401 bad\033[2J\rerror forged')"; then
	cli_start carol 5
	tell carol "login carol carol-pw"
	got carol '^error login failed' 10
	cli_eof carol
	cli_wait carol 10
	if grep -aFqx 'error login failed: 401 bad\x1b[2J\rerror forged' "$T/carol.out" && [ -z "$(ctrl "$T/carol.out")" ]; then
		pass harden_server_err_text_escaped
	else
		fail harden_server_err_text_escaped "$(od -c "$T/carol.out" | head -n 8 | tr '\n' '|')"
	fi
	if grep -aFq "'evil\\x1b]0;title\\x07'" "$T/carol.err" && [ -z "$(ctrl "$T/carol.err")" ]; then
		pass harden_server_greeting_logged_escaped
	else
		fail harden_server_greeting_logged_escaped "$(grep -a evil "$T/carol.err" | od -c | head -n 5 | tr '\n' '|')"
	fi
else
	fail harden_server_err_text_escaped "the fake server did not start"
fi
# A backslash in the server's words is doubled: a literal "\x1b" can
# never pass for an escaped ESC, nor "\n" for a newline.
if fake_server carl 'IM 1 fake' 'ERR 401 x\x1b[2J \n \\ end'; then
	cli_start carl 5
	tell carl "login carl carl-pw"
	got carl '^error login failed' 10
	cli_eof carl
	cli_wait carl 10
	if grep -aFqx 'error login failed: 401 x\\x1b[2J \\n \\\\ end' "$T/carl.out"; then
		pass harden_server_err_backslash_doubled
	else
		fail harden_server_err_backslash_doubled "$(grep -a '^error' "$T/carl.out" | tr '\n' '|')"
	fi
else
	fail harden_server_err_backslash_doubled "the fake server did not start"
fi
if fake_server dale 'IM 1 fake' 'OK dale' 'KICKED by a\x1b]0;x\x07 admin\'; then
	cli_start dale 5
	tell dale "login dale dale-pw"
	got dale '^error kicked' 10
	cli_eof dale
	cli_wait dale 10
	if grep -aFqx 'error kicked by the server: by a\\x1b]0;x\\x07 admin\\' "$T/dale.out"; then
		pass harden_kicked_reason_backslash_doubled
	else
		fail harden_kicked_reason_backslash_doubled "$(grep -a '^error' "$T/dale.out" | tr '\n' '|')"
	fi
else
	fail harden_kicked_reason_backslash_doubled "the fake server did not start"
fi
if fake_server dan 'IM 1 fake' 'OK dan' "$(printf 'KICKED by \033]0;x\007 now\r\tok')"; then
	cli_start dan 5
	tell dan "login dan dan-pw"
	got dan '^error kicked' 10
	cli_eof dan
	cli_wait dan 10
	if grep -aFqx 'error kicked by the server: by \x1b]0;x\x07 now\r\tok' "$T/dan.out" && [ -z "$(ctrl "$T/dan.out")" ]; then
		pass harden_kicked_reason_escaped
	else
		fail harden_kicked_reason_escaped "$(od -c "$T/dan.out" | head -n 8 | tr '\n' '|')"
	fi
else
	fail harden_kicked_reason_escaped "the fake server did not start"
fi

# --- finding 4, contacts: known_keys cannot be written ---
cli_conf frank
cli_conf gina
cli_start frank 6
cli_start gina 7
wait_for "$T/frank.err" 'im client .*state' 10
mkdir -p "$T/frank/known_keys/blocker"
tell frank "signup frank frank-pw" "add gina"
tell gina "signup gina gina-pw" "add frank"
want harden_contact_key_store_error frank '^error cannot store the key of gina in .*known_keys' 10
got frank '^online gina '
tell gina quit
cli_wait gina 10
got frank '^offline gina$'
rm -f "$T/gina/id.key" "$T/gina/id.crt"
cli_start gina 7
tell gina "login gina gina-pw"
if ! got gina '^ready gina$'; then
	fail harden_contact_key_pinned_in_memory "gina did not log in again: $(tail -n 3 "$T/gina.out" | tr '\n' '|')"
elif got frank '^keychange gina$' 10; then
	pass harden_contact_key_pinned_in_memory
else
	fail harden_contact_key_pinned_in_memory "no keychange: $(tail -n 4 "$T/frank.out" | tr '\n' '|')"
fi
tell frank "msg gina to an unchecked key"
want harden_contact_key_changed_not_sent frank '^failed gina 1 untrusted$' 10
if grep -q 'unchecked key' "$T/gina.out"; then fail harden_contact_key_changed_nothing_arrives "gina got it"; else
	pass harden_contact_key_changed_nothing_arrives; fi

# --- the interactive UI on a pseudo-terminal (finding 6) ---
tell alice quit
cli_wait alice 10
got bob '^offline alice$'
printf 'alice-pw\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
cp "$T/alice.conf" "$T/alicetty.conf"
printf 'user = alice\npassword_file = %s/alice.pw\n' "$T" >>"$T/alicetty.conf"
if command -v script >/dev/null 2>&1; then
	rm -f "$T/tty.fifo"
	mkfifo "$T/tty.fifo"
	: >"$T/tty.out"
	script -qfec "\"$IM\" client --plain -c \"$T/alicetty.conf\"" /dev/null <"$T/tty.fifo" >"$T/tty.out" 2>&1 \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	PIDS="$PIDS $!"
	exec 8>"$T/tty.fifo"
	if wait_for "$T/tty.out" 'logged in as alice' 10 && got_n bob '^online alice ' 2 10; then
		# No window open and no dial of ours: the probe's link is the
		# only one (a dial of ours could win a tie-break against it).
		ALICEPORT=$(peer_port_of bob alice)
		"$PROBE" -w 10 dial "$T/bob/id.key" "$T/bob/id.crt" 127.0.0.1 "$ALICEPORT" bob \
			"$(printf 'MSG i1 esc\033]0;pwned\007\033[2Jend')" \
			"$(printf 'MSG i2 c1\302\23331m bidi\342\200\256evil\342\201\246x')" \
			'MSG i3 line1\n[12:00] alice: forged' \
			"$(printf 'MSG i4 tab\tdel\177cr\rx')" BYE >"$T/i.probe" 2>&1
		printf '/open bob\r' >&8
		wait_for "$T/tty.out" 'bob: tab' 5
		ok=1
		why=""
		for want in 'bob: esc\x1b]0;pwned\x07\x1b[2Jend' 'bob: c1\u009b31m bidi\u202eevil\u2066x' \
			'bob: tab\tdel\x7fcr\rx'; do
			grep -aFq "$want" "$T/tty.out" || { ok=0; why="$why missing '$want'"; }
		done
		if LC_ALL=C grep -aq "$(printf '\033\\|\177')" "$T/tty.out" || [ -n "$(rawbidi "$T/tty.out")" ]; then
			ok=0
			why="$why raw control bytes on the terminal"
		fi
		if [ $ok = 1 ]; then pass harden_tty_controls_visible; else
			fail harden_tty_controls_visible "$why: $(grep -a 'bob:' "$T/tty.out" | od -c | head -n 10 | tr '\n' '|')"; fi
		if grep -aq 'bob: line1' "$T/tty.out" && ! grep -aq '^\[12:00\] alice: forged' "$T/tty.out" &&
			grep -aq '^  *\[12:00\] alice: forged' "$T/tty.out"; then
			pass harden_tty_multiline_indented
		else
			fail harden_tty_multiline_indented "$(grep -a -A1 'line1' "$T/tty.out" | tr '\r\n' '||')"
		fi
	else
		fail harden_tty_controls_visible "set-up: alice did not log in on the terminal: $(tail -n 3 "$T/tty.out" | tr '\r\n' '||')"
	fi
	printf '/quit\r' >&8
	wait_for "$T/tty.out" '\* bye' 10
	exec 8>&-
else
	echo "SKIP harden_tty_controls_visible: no script(1) for a pseudo-terminal"
fi

# --- finding 4, server: known_servers cannot be written ---
# A full list: the key cannot even be kept in memory, so no login at all.
i=0
while [ $i -lt 4096 ]; do
	echo "host$i:5190 $KEYA"
	i=$((i + 1))
done >"$T/full_servers"
mkdir -m 700 "$T/ivan"
cp "$T/full_servers" "$T/ivan/known_servers"
cli_conf ivan
cli_start ivan 9
tell ivan "signup ivan ivan-pw"
want harden_server_key_unpinnable_refused ivan "^error cannot remember the key of server 127\\.0\\.0\\.1:$PORT \\(the list of remembered keys is full\\): refusing to log in" 10
cli_eof ivan
cli_wait ivan 10
if grep -q '^ready' "$T/ivan.out" || grep -q 'ivan' "$T/s.log"; then
	fail harden_server_key_unpinnable_no_password "$(grep -a ivan "$T/s.log" "$T/ivan.out" | head -n 2 | tr '\n' '|')"
else
	pass harden_server_key_unpinnable_no_password
fi

# The list has room, the file cannot be replaced: pinned in memory.
cli_conf erin
cli_start erin 9
wait_for "$T/erin.err" 'im client .*state' 10
mkdir -p "$T/erin/known_servers/blocker"
tell erin "signup erin erin-pw"
want harden_server_key_store_error erin "^error cannot store the key of server 127\\.0\\.0\\.1:$PORT in .*known_servers" 10
if ! got erin '^ready erin$' 10; then
	fail harden_server_key_pinned_in_memory "set-up: erin did not log in: $(tail -n 3 "$T/erin.out" | tr '\n' '|')"
else
	# The server comes back on the same port with a new key.
	SPORT=$PORT
	OLDKEY=$("$IM" server -c "$T/s.conf" --fingerprint 2>/dev/null)
	kill -TERM "$SRV_PID"
	wait "$SRV_PID" 2>/dev/null
	rm -f "$T/data/server.key" "$T/data/server.crt"
	if ! srv_start "$T/s.conf" "$T/s2.log" -p "$SPORT" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-; then
		fail harden_server_key_pinned_in_memory "set-up: the server did not restart"
	else
		NEWKEY=$("$IM" server -c "$T/s.conf" --fingerprint 2>/dev/null)
		# Either outcome of the reconnect (refused, or logged in again).
		i=0
		while [ $i -lt 400 ] && ! grep -q 'presented key' "$T/erin.out" && [ "$(grep -c '^ready erin$' "$T/erin.out")" -lt 2 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if [ "$OLDKEY" != "$NEWKEY" ] &&
			grep -q "^error server 127\\.0\\.0\\.1:$SPORT presented key $NEWKEY but $OLDKEY is expected" "$T/erin.out"; then
			pass harden_server_key_pinned_in_memory
		else
			fail harden_server_key_pinned_in_memory "keys $OLDKEY / $NEWKEY; erin: $(tail -n 3 "$T/erin.out" | tr '\n' '|')"
		fi
		sleep 1
		if [ "$(grep -c '^ready erin$' "$T/erin.out")" -eq 1 ] && ! grep -q 'erin' "$T/s2.log"; then
			pass harden_server_key_changed_no_password
		else
			fail harden_server_key_changed_no_password "$(grep -a erin "$T/s2.log" | head -n 2 | tr '\n' '|') $(grep -c '^ready erin$' "$T/erin.out") ready"
		fi
	fi
fi
cli_eof erin
cli_wait erin 10

for id in bob frank gina; do cli_eof $id; done
for id in bob frank gina; do cli_wait $id 10; done
srv_stop harden_server_stops
no_crash harden_no_crash "$T/s.log" "$T"/*.err "$T/tty.out"
