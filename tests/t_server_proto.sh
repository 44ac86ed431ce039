#!/bin/sh
# t_server_proto: every line of the login channel protocol and every ERR
# code, the greeting, framing errors (too long, NUL, bad UTF-8) and TLS
# (1.1 refused, the key the client sees is --fingerprint's), through real
# TLS on loopback with tests/imtc.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

C=$T/s.conf
srv_conf "$C" "server_name = testsrv" "max_contacts = 3" "max_failures_per_name = 3" \
	"max_failures_per_ip = 1000"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi

# --- greeting, TLS ---
cl g -k
expect proto_greeting g '^IM 1 testsrv$'
fp=$("$IM" server -c "$C" --fingerprint 2>&1)
if echo "$fp" | grep -Eq '^[0-9a-f]{64}$' && seen g "^\*key $fp\$" &&
	grep -q "server key fingerprint $fp" "$T/s.log"; then
	pass proto_fingerprint_matches_client
else
	fail proto_fingerprint_matches_client "--fingerprint '$fp', client: $(grep '^\*key' "$T/g.out"), log: $(grep fingerprint "$T/s.log")"
fi
if grep -Eq '^\*tls TLS-ECDHE-ECDSA-WITH-(CHACHA20-POLY1305|AES-128-GCM|AES-256-GCM)' "$T/g.out"; then
	pass proto_tls_suite_ecdhe_aead
else
	fail proto_tls_suite_ecdhe_aead "$(grep '^\*tls' "$T/g.out")"
fi
"$IMTC" -1 -w 10 127.0.0.1 "$PORT" >"$T/old.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q '^\*handshake failed' "$T/old.out"; then
	pass proto_tls11_refused
else
	fail proto_tls11_refused "exit $rc: $(tr '\n' ' ' <"$T/old.out")"
fi
# openssl agrees, when it can still speak TLS 1.1 at all
if command -v openssl >/dev/null 2>&1; then
	echo | timeout 10 openssl s_client -quiet -no_tls1_2 -no_tls1_3 -cipher 'DEFAULT:@SECLEVEL=0' -connect "127.0.0.1:$PORT" \
		>"$T/ossl11.out" 2>&1
	if grep -q '^IM 1' "$T/ossl11.out"; then
		fail proto_tls11_refused_openssl "greeting over TLS < 1.2"
	else
		pass proto_tls11_refused_openssl
	fi
	printf 'PING ossl\nLOGOUT\n' | timeout 10 openssl s_client -quiet -tls1_2 -connect "127.0.0.1:$PORT" \
		>"$T/ossl12.out" 2>/dev/null
	if grep -q '^IM 1 testsrv' "$T/ossl12.out" && grep -q '^PONG ossl' "$T/ossl12.out"; then
		pass proto_openssl_s_client_tls12
	else
		fail proto_openssl_s_client_tls12 "$(tr '\n' '|' <"$T/ossl12.out" | head -c 300)"
	fi
else
	skip proto_openssl "openssl is not installed"
fi

# --- before login ---
say g "PING" "PING tok en" "PEER 4000 $KEYA" "CONTACTS bob" "ADD bob" "DEL bob" "FOO bar" "" "login x y" \
	"LOGIN" "LOGIN onlyname" "!raw PING crlf\r\n"
expect proto_ping_bare g '^PONG$'
expect proto_ping_token_rest_of_line g '^PONG tok en$'
seen g '^PONG crlf$' && sync g
if [ "$(count g '^ERR 403 ')" -eq 4 ]; then pass proto_403_before_login; else
	fail proto_403_before_login "$(grep ERR "$T/g.out" | tr '\n' '|')"; fi
expect proto_400_unknown g '^ERR 400 unknown command'
expect proto_400_empty g '^ERR 400 empty line'
if [ "$(count g '^ERR 400 ')" -eq 5 ]; then pass proto_400_malformed_login; else
	fail proto_400_malformed_login "$(grep 'ERR 400' "$T/g.out" | tr '\n' '|')"; fi
if seen g '^PONG crlf$' 1; then pass proto_crlf_accepted; else fail proto_crlf_accepted "no PONG crlf"; fi
if grep -q '^\*closed' "$T/g.out"; then fail proto_errors_keep_open "closed"; else pass proto_errors_keep_open; fi

# --- SIGNUP, LOGIN, 401, 409 ---
say g "SIGNUP Alice alice-pw"
expect proto_signup_folds_case g '^OK alice$'
say g "SIGNUP bob bob-pw" "LOGIN alice alice-pw"
seen g "^ERR 403 already" && sync g
if [ "$(count g '^ERR 403 already logged in')" -eq 2 ]; then pass proto_403_already_logged_in; else
	fail proto_403_already_logged_in "$(grep ERR "$T/g.out" | tail -n 3 | tr '\n' '|')"; fi
cl h
say h "SIGNUP alice other-pw" "SIGNUP ALICE other-pw" "SIGNUP -bad bad-pw" "SIGNUP x!y bad-pw" \
	"SIGNUP $(printf 'n%.0s' $(seq 33)) long-pw" "SIGNUP carol ab" "LOGIN alice wrong-pw" \
	"LOGIN nobody nobody-pw" "LOGIN -bad x"
sync h
if [ "$(count h '^ERR 409 ')" -eq 2 ]; then pass proto_409_name_taken; else
	fail proto_409_name_taken "$(grep ERR "$T/h.out" | tr '\n' '|')"; fi
if [ "$(count h '^ERR 401 ')" -eq 7 ]; then pass proto_401_bad_name_or_password; else
	fail proto_401_bad_name_or_password "$(grep ERR "$T/h.out" | tr '\n' '|')"; fi
if grep -q 'alice-pw\|wrong-pw\|other-pw' "$T/s.log"; then fail proto_log_no_password "password in log"; else
	pass proto_log_no_password; fi
say h "SIGNUP carol pass with spaces"
setup carol_signup seen h '^OK carol$'
# min_password_length (4 here) counts characters, as im adduser does
cl u8
say u8 "SIGNUP uni1 éé" "SIGNUP uni2 éééé"
seen u8 '^OK uni2$'
if [ "$(count u8 '^ERR 401 password too short')" -eq 1 ]; then pass proto_min_password_counts_characters; else
	fail proto_min_password_counts_characters "$(tr '\n' '|' <"$T/u8.out")"; fi
say h "LOGOUT"
expect proto_logout_bye h '^BYE$'
expect proto_logout_closes h '^\*closed$'
cl i
say i "LOGIN Carol pass with spaces"
expect proto_login_password_with_spaces i '^OK carol$'

# --- PEER ---
say g "PEER 0 $KEYA" "PEER 65536 $KEYA" "PEER abc $KEYA" "PEER 4000 $(echo $KEYA | tr a A)" \
	"PEER 4000 abc" "PEER 4000 $KEYA not-an-ip" "PEER 4000" "PEER 4000 $KEYA 10.0.0.1 x" "PEER"
sync g
if [ "$(count g '^ERR 400 ')" -eq 14 ]; then pass proto_peer_400; else
	fail proto_peer_400 "$(grep 'ERR 400' "$T/g.out" | tail -n 9 | tr '\n' '|')"; fi
say g "PEER 4000 $KEYA" "PEER 4001 $KEYA fd00::1" "PEER 4002 $KEYA 192.168.1.20"
sync g
if [ "$(count g '^OK$')" -eq 3 ]; then pass proto_peer_ok; else
	fail proto_peer_ok "$(tail -n 4 "$T/g.out" | tr '\n' '|')"; fi

# --- CONTACTS, ADD, DEL, 413 ---
say g "CONTACTS bob carol dave erin" "CONTACTS bob  carol" "CONTACTS bob -x" "CONTACTS" "CONTACTS Bob carol dave"
sync g
if [ "$(count g '^ERR 413 ')" -eq 1 ] && [ "$(count g '^OK$')" -eq 5 ] &&
	[ "$(count g '^ERR 400 ')" -eq 16 ]; then
	pass proto_contacts_413_400_ok
else
	fail proto_contacts_413_400_ok "$(tail -n 6 "$T/g.out" | tr '\n' '|')"
fi
say g "ADD erin" "ADD bob" "DEL dave" "ADD erin" "DEL nobody" "ADD" "DEL" "ADD a b" "ADD -x"
sync g
if [ "$(count g '^ERR 413 ')" -eq 2 ] && [ "$(count g '^OK$')" -eq 9 ] &&
	[ "$(count g '^ERR 400 ')" -eq 20 ]; then
	pass proto_add_del_413_400_ok
else
	fail proto_add_del_413_400_ok "$(tail -n 10 "$T/g.out" | tr '\n' '|')"
fi
if grep -q '^contacts=bob carol erin$' "$T/data/run/alice" 2>/dev/null; then pass proto_contacts_recorded; else
	fail proto_contacts_recorded "$(cat "$T/data/run/alice" 2>&1 | tr '\n' '|')"; fi

# --- 429: failed logins per name, and the log names address and name ---
cl r
say r "LOGIN carol bad1" "LOGIN carol bad2" "LOGIN carol bad3" "LOGIN carol pass with spaces"
seen r '^ERR 429 ' 10
sync r
if [ "$(count r '^ERR 401 ')" -eq 3 ] && [ "$(count r '^ERR 429 ')" -eq 1 ] && ! grep -q '^OK' "$T/r.out"; then
	pass proto_429_too_many_attempts
else
	fail proto_429_too_many_attempts "$(grep -E '^(OK|ERR)' "$T/r.out" | tr '\n' '|')"
fi
if grep -E 'too many' "$T/s.log" | grep -q 'carol' && grep -E 'too many' "$T/s.log" | grep -q '127\.0\.0\.1'; then
	pass proto_429_logged_with_ip_and_name
else
	fail proto_429_logged_with_ip_and_name "$(grep -i 'too many\|failed' "$T/s.log" | tail -n 2 | tr '\n' '|')"
fi

# --- framing: too long, NUL, bad UTF-8 each get ERR 400 and a close ---
frame_test() {
	name=$1 raw=$2 want=$3
	cl "$name"
	say "$name" "PING first" "$raw" "PING after"
	if seen "$name" '^\*closed$' && grep -q "^ERR 400 .*$want" "$T/$name.out" &&
		! grep -q '^PONG after' "$T/$name.out"; then
		pass "proto_$name"
	else
		fail "proto_$name" "$(tr '\n' '|' <"$T/$name.out" | head -c 300)"
	fi
}
frame_test too_long_2000 '!long 2000' 'too long'
frame_test too_long_1025 '!long 1025' 'too long'
frame_test nul_byte '!raw PING a\0b\n' 'NUL'
frame_test bad_utf8_ff '!raw PING \xff\xfe\n' 'UTF-8'
frame_test bad_utf8_overlong '!raw PING \xc0\xaf\n' 'UTF-8'
frame_test bad_utf8_surrogate '!raw PING \xed\xa0\x80\n' 'UTF-8'
frame_test bad_utf8_truncated '!raw PING \xe2\x82\n' 'UTF-8'
cl maxline
say maxline '!long 1024' '!raw PING caf\xc3\xa9\n'
if seen maxline '^PONG x{1018}$' && seen maxline '^PONG café$'; then pass proto_1024_byte_line_and_utf8_ok; else
	fail proto_1024_byte_line_and_utf8_ok "$(cut -c 1-60 "$T/maxline.out" | tr '\n' '|')"; fi
# a login spread over many TCP segments still works (one read is not one line)
cl slow
say slow '!raw SIG' '!sleep 50' '!raw NUP da' '!sleep 50' '!raw ve dave-pw' '!sleep 50' '!raw \n'
expect proto_line_split_across_reads slow '^OK dave$'

# --- 403 sign-up disabled; 503 server full (separate servers) ---
sync g
srv_stop proto_sigterm_exit_0
no_crash proto_no_crash "$T/s.log"

C2=$T/s2.conf
srv_conf "$C2" "allow_signup = no" "max_connections = 2" "max_failures_per_ip = 2"
if srv_start "$C2" "$T/s2.log"; then
	cl d1
	say d1 "SIGNUP zed zed-pw" "LOGIN dave dave-pw"
	expect proto_403_signup_disabled d1 '^ERR 403 sign-up'
	expect proto_login_when_signup_disabled d1 '^OK dave$'
	cl d2
	seen d2 '^IM 1 '
	say d2 "LOGIN zz bad-pw1" "LOGIN yy bad-pw2" "LOGIN dave dave-pw"
	seen d2 '^ERR 429 ' && sync d2
	if [ "$(count d2 '^ERR 401 ')" -eq 2 ] && [ "$(count d2 '^ERR 429 ')" -eq 1 ] && ! grep -q '^OK' "$T/d2.out"; then
		pass proto_429_per_ip
	else
		fail proto_429_per_ip "$(grep -E '^(OK|ERR)' "$T/d2.out" | tr '\n' '|')"
	fi
	cl d3
	if seen d3 '^ERR 503 ' && seen d3 '^\*closed$' && ! grep -q '^IM 1' "$T/d3.out"; then
		pass proto_503_server_full
	else
		fail proto_503_server_full "$(tr '\n' '|' <"$T/d3.out")"
	fi
	say d2 "LOGOUT"
	seen d2 '^\*closed$'
	sleep 0.2
	cl d4
	expect proto_503_frees_slot d4 '^IM 1 '
	srv_stop proto_sigterm_exit_0_second
else
	fail proto_second_server "$(head -c 300 "$T/s2.log")"
fi
no_crash proto_no_crash_second "$T/s2.log"
