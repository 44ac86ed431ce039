#!/bin/sh
# t_admin: the admin modes (adduser, passwd, deluser, users, who), the users
# file format and its crash safety, and argv[0] dispatch, on the real $IM.
. "$(dirname "$0")/lib.sh"

D=$T/data
U=$D/users
C=$T/im.conf
printf '[server]\ndata_dir = %s\npbkdf2_iterations = 1000\n' "$D" >"$C"
# name:pbkdf2-sha256:<iterations>:<16-byte salt b64>:<32-byte hash b64>
LINE_RE='^[a-z0-9][a-z0-9_.-]{0,31}:pbkdf2-sha256:[1-9][0-9]*:[A-Za-z0-9+/]{22}==:[A-Za-z0-9+/]{43}=$'
ANY_LINE_RE='^[a-z0-9][a-z0-9_.-]{0,31}:pbkdf2-sha256:[1-9][0-9]*:[A-Za-z0-9+/=]+:[A-Za-z0-9+/]{43}=$'

adduser() { printf '%s\n' "$2" | "$IM" adduser -c "$C" "$1"; }

# expect_silent NAME CMD...: CMD exits 0 and prints nothing at all.
expect_silent() {
	n=$1
	shift
	"$@" >"$T/es.out" 2>&1
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$T/es.out" ]; then pass "$n"; else
		fail "$n" "exit $rc: $(head -c 300 "$T/es.out" | tr '\n' ' ')"; fi
}

# expect_none_hint NAME PATTERN CMD...: CMD exits 0, prints nothing on
# stdout (scripts see no entries) and says why on stderr.
expect_none_hint() {
	n=$1 pat=$2
	shift 2
	"$@" >"$T/es.out" 2>"$T/es.err"
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$T/es.out" ] && grep -Eq -- "$pat" "$T/es.err"; then pass "$n"; else
		fail "$n" "exit $rc: $(head -c 300 "$T/es.out" "$T/es.err" | tr '\n' ' ')"; fi
}

# expect_said NAME CODE TEXT CMD...: CMD exits CODE, prints nothing on
# stdout (scripts see no entries) and its stderr holds the fixed TEXT.
expect_said() {
	n=$1 code=$2 text=$3
	shift 3
	"$@" >"$T/es.out" 2>"$T/es.err"
	rc=$?
	if [ $rc -eq "$code" ] && [ ! -s "$T/es.out" ] && grep -Fq -- "$text" "$T/es.err"; then pass "$n"; else
		fail "$n" "exit $rc (wanted $code), wanted '$text': $(head -c 400 "$T/es.out" "$T/es.err" | tr '\n' ' ')"; fi
}

# all_lines_match FILE RE: every line of FILE matches RE and there is one.
all_lines_match() {
	[ -s "$1" ] && ! grep -Evq -- "$2" "$1"
}

# pw_matches NAME PASSWORD: recomputes the stored hash with openssl.
pw_matches() {
	line=$(grep "^$1:" "$U") || return 1
	iter=$(echo "$line" | cut -d: -f3)
	salt=$(echo "$line" | cut -d: -f4 | base64 -d | od -An -tx1 | tr -d ' \n')
	want=$(echo "$line" | cut -d: -f5 | base64 -d | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
	got=$(openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt "pass:$2" -kdfopt "hexsalt:$salt" \
		-kdfopt "iter:$iter" PBKDF2 | tr -d ':\n')
	[ -n "$want" ] && [ "$got" = "$want" ]
}

# --- round trips ---------------------------------------------------------
# A users file that is not there is an error naming where im looked and
# the config that said so (a wrong directory or a missing -c shows).
expect_said users_missing_file 1 "im users: users file $U does not exist (config $C)" "$IM" users -c "$C"
expect_said who_missing_users_file 1 "im who: users file $U does not exist (config $C)" "$IM" who -c "$C"
expect_said passwd_missing_users_file 1 "no such user alice: users file $U does not exist (config $C)" \
	sh -c "echo password1 | '$IM' passwd -c '$C' alice"
expect_said deluser_missing_users_file 1 "no such user alice: users file $U does not exist (config $C)" \
	"$IM" deluser -c "$C" alice
check no_users_file_still_none [ ! -e "$U" ]
# the first adduser says it made the file (stderr), the next ones do not
adduser alice 'correct horse' >"$T/add1.out" 2>"$T/add1.err"
echo $? >"$T/add1.rc"
check adduser_ok test "$(cat "$T/add1.rc")" = 0 -a -f "$U"
check adduser_says_created sh -c "[ ! -s '$T/add1.out' ] && [ \"\$(cat '$T/add1.err')\" = 'im adduser: created $U (config $C)' ]"
adduser dora 'correct horse' >"$T/add2.out" 2>&1
check adduser_existing_file_silent sh -c "[ ! -s '$T/add2.out' ]"
"$IM" deluser -c "$C" dora >"$T/del.out" 2>&1 || fail adduser_existing_file_silent "deluser dora: $(cat "$T/del.out")"
check adduser_folds adduser Bob 'battery staple'
check adduser_password_stdin sh -c "echo 'carol pass 1' | '$IM' adduser -c '$C' --password-stdin carol"
check users_file_format all_lines_match "$U" "$LINE_RE"
check users_file_iterations_from_conf sh -c "[ \$(cut -d: -f3 '$U' | sort -u) = 1000 ]"
check users_file_mode sh -c "[ \$(stat -c %a '$U') = 600 ] && [ \$(stat -c %a '$D') = 700 ]"
check users_hash_is_pbkdf2 pw_matches alice 'correct horse'
check users_hash_spaces_kept pw_matches carol 'carol pass 1'
check users_list sh -c "[ \"\$('$IM' users -c '$C' | tr '\n' ' ')\" = 'alice bob carol ' ]"
cp "$U" "$T/before"
check passwd_ok sh -c "echo 'new password' | '$IM' passwd -c '$C' BOB"
check passwd_new_hash pw_matches bob 'new password'
check passwd_old_hash_gone sh -c "! grep -q \"\$(grep ^bob: '$T/before')\" '$U'"
check passwd_others_untouched sh -c "grep -v ^bob: '$T/before' >'$T/a'; grep -v ^bob: '$U' >'$T/b'; cmp '$T/a' '$T/b'"
check passwd_format all_lines_match "$U" "$LINE_RE"
check deluser_ok "$IM" deluser -c "$C" bob
check deluser_gone sh -c "[ \"\$('$IM' users -c '$C' | tr '\n' ' ')\" = 'alice carol ' ]"
check deluser_format all_lines_match "$U" "$LINE_RE"
check no_temp_files_left sh -c "[ -z \"\$(ls -A '$D' | grep -v '^users' ; ls -A '$D' | grep tmp)\" ]"

# --- bad input: clear error, right exit code, users file byte-identical ---
cp "$U" "$T/ref"
unchanged() { cmp -s "$U" "$T/ref"; }
# bad NAME CODE PATTERN CMD...: expect_exit, then the file must be unchanged.
bad() {
	n=$1
	expect_exit "$@"
	unchanged || fail "$n-file_unchanged" "users file changed"
}
bad bad_name_start 1 'invalid name' sh -c "echo password1 | '$IM' adduser -c '$C' _x"
bad bad_name_char 1 "invalid name 'a b'" sh -c "echo password1 | '$IM' adduser -c '$C' 'a b'"
bad bad_name_colon 1 'invalid name' sh -c "echo password1 | '$IM' adduser -c '$C' 'a:b'"
bad bad_name_long 1 'invalid name' sh -c "echo password1 | '$IM' adduser -c '$C' a23456789012345678901234567890123"
bad bad_name_passwd 1 'invalid name' sh -c "echo password1 | '$IM' passwd -c '$C' 'x/y'"
bad bad_name_deluser 1 'invalid name' "$IM" deluser -c "$C" '.x'
bad user_exists 1 'user alice exists' sh -c "echo password1 | '$IM' adduser -c '$C' alice"
bad user_exists_folded 1 'user alice exists' sh -c "echo password1 | '$IM' adduser -c '$C' ALICE"
bad passwd_no_such_user 1 'no such user nobody' sh -c "echo password1 | '$IM' passwd -c '$C' nobody"
bad deluser_no_such_user 1 'no such user nobody' "$IM" deluser -c "$C" nobody
bad empty_password 1 'empty password' sh -c "echo | '$IM' adduser -c '$C' dave"
bad empty_password_eof 1 'empty password' sh -c "'$IM' adduser -c '$C' dave </dev/null"
bad short_password 1 'password too short \(at least 8' sh -c "echo 1234567 | '$IM' adduser -c '$C' dave"
bad short_password_passwd 1 'password too short' sh -c "echo short | '$IM' passwd -c '$C' alice"
bad short_password_utf8 1 'password too short' sh -c "printf '\303\251\303\251\303\251\303\251\n' | '$IM' adduser -c '$C' dave"
bad leading_space_password 1 'must not start with a space' sh -c "echo '  password1' | '$IM' adduser -c '$C' dave"
bad bad_utf8_password 1 'not valid UTF-8' sh -c "printf 'password\377\n' | '$IM' adduser -c '$C' dave"
bad long_password 1 'password too long' sh -c "head -c 600 /dev/zero | tr '\\\\0' x | '$IM' adduser -c '$C' dave"
printf '[server]\ndata_dir = %s\nmin_password_length = 12\npbkdf2_iterations = 1000\n' "$D" >"$T/min12.conf"
bad min_password_length_conf 1 'at least 12' sh -c "echo password123 | '$IM' adduser -c '$T/min12.conf' dave"

# mismatched passwords need a terminal: script(1) gives the mode a pty.
# tty_passwd PW1 PW2: im passwd alice there, each password typed once its
# prompt is shown (typed earlier, it would be echoed); output in tty.out.
tty_passwd() {
	rm -f "$T/tty.fifo"
	mkfifo "$T/tty.fifo"
	: >"$T/tty.out"
	script -qec "${TTY_WRAP:-} '$IM' passwd -c '$C' alice; echo rc=\$?" /dev/null <"$T/tty.fifo" >"$T/tty.out" 2>&1 &
	tp=$!
	exec 7>"$T/tty.fifo"
	setup tty_prompt wait_for "$T/tty.out" 'New password for alice: ' 20 && printf '%s\n' "$1" >&7
	setup tty_retype wait_for "$T/tty.out" 'Retype new password: ' 20 && printf '%s\n' "$2" >&7
	setup tty_done wait_for "$T/tty.out" 'rc=' 20 || kill "$tp" 2>/dev/null
	exec 7>&-
	wait $tp
}
tty_passwd password-one password-two
if grep -q 'passwords do not match' "$T/tty.out" && grep -q 'rc=1' "$T/tty.out" && unchanged; then
	pass tty_passwords_mismatch
else
	fail tty_passwords_mismatch "$(tr '\r\n' '  ' <"$T/tty.out")"
fi
tty_passwd 'tty secret 9' 'tty secret 9'
if grep -q 'rc=0' "$T/tty.out" && grep -q 'Retype' "$T/tty.out" && ! grep -q 'tty secret' "$T/tty.out" &&
	pw_matches alice 'tty secret 9'; then
	pass tty_password_no_echo
else
	fail tty_password_no_echo "$(tr '\r\n' '  ' <"$T/tty.out")"
fi
# A slow terminal switch (strace holds every ioctl 0.3 s, as a slow board
# or an emulator may): the answer typed the moment its prompt shows is
# neither echoed nor lost, as echo goes off before the prompt is written.
if command -v strace >/dev/null 2>&1; then
	TTY_WRAP="ASAN_OPTIONS=detect_leaks=0 strace -f -qq -o /dev/null -e trace=ioctl -e inject=ioctl:delay_enter=300000"
	tty_passwd 'slow secret 7' 'slow secret 7'
	TTY_WRAP=""
	if grep -q 'rc=0' "$T/tty.out" && ! grep -q 'slow secret' "$T/tty.out" && pw_matches alice 'slow secret 7'; then
		pass tty_password_typed_at_prompt
	else
		fail tty_password_typed_at_prompt "$(tr '\r\n' '  ' <"$T/tty.out")"
	fi
else
	skip tty_password_typed_at_prompt "strace is not installed"
fi
cp "$U" "$T/ref"

# unreadable users file: the path is a directory
mkdir -p "$T/dirusers/users"
printf '[server]\ndata_dir = %s/dirusers\npbkdf2_iterations = 1000\n' "$T" >"$T/dir.conf"
expect_exit users_file_is_dir 1 "cannot read users file $T/dirusers/users: Is a directory" \
	sh -c "echo password1 | '$IM' adduser -c '$T/dir.conf' dave"
expect_exit users_file_is_dir_list 1 'cannot read users file' "$IM" users -c "$T/dir.conf"
expect_exit users_file_is_dir_del 1 'cannot read users file' "$IM" deluser -c "$T/dir.conf" dave
# data_dir under a regular file
: >"$T/plainfile"
printf '[server]\ndata_dir = %s/plainfile/data\npbkdf2_iterations = 1000\n' "$T" >"$T/nd.conf"
expect_exit data_dir_not_dir 1 'cannot read users file .*Not a directory' \
	sh -c "echo password1 | '$IM' adduser -c '$T/nd.conf' dave"
check data_dir_not_dir_untouched sh -c "[ ! -s '$T/plainfile' ] && [ -f '$T/plainfile' ]"
# unwritable: the lock file cannot be created (a directory in its place)
mkdir "$U.lock.d" && rm -f "$U.lock" && mv "$U.lock.d" "$U.lock"
bad users_unwritable_add 1 "cannot write users file $U" sh -c "echo password1 | '$IM' adduser -c '$C' dave"
bad users_unwritable_passwd 1 "cannot write users file $U" sh -c "echo password1 | '$IM' passwd -c '$C' alice"
bad users_unwritable_del 1 "cannot write users file $U" "$IM" deluser -c "$C" alice
rmdir "$U.lock"

# config and usage errors: exit 2 with a one-line hint
printf '[server]\ndata_dir = %s\n\nno_such_key = 1\n' "$D" >"$T/badkey.conf"
bad conf_unknown_key 2 "$T/badkey.conf:4: .*no_such_key" "$IM" users -c "$T/badkey.conf"
printf '[server]\npbkdf2_iterations = lots\n' >"$T/badval.conf"
bad conf_bad_value 2 "$T/badval.conf:2: .*pbkdf2_iterations" sh -c "echo password1 | '$IM' adduser -c '$T/badval.conf' dave"
bad conf_missing_file 2 "$T/nonexistent.conf" "$IM" who -c "$T/nonexistent.conf"
bad usage_no_name 2 "missing NAME.*im adduser --help" "$IM" adduser -c "$C"
bad usage_extra_arg 2 "unexpected argument 'b'" "$IM" deluser -c "$C" a b
bad usage_unknown_option 2 "unknown option '-x'" "$IM" users -x
bad usage_c_without_file 2 '-c needs a FILE' "$IM" who -c
bad usage_pw_stdin_on_deluser 2 "unknown option '--password-stdin'" "$IM" deluser --password-stdin alice
check usage_hint_one_line sh -c "[ \$('$IM' adduser 2>&1 | wc -l) = 1 ]"

# --- unknown lines are kept verbatim and reported with their line number --
cp "$U" "$T/saved"
{ head -n 1 "$T/saved"; echo '# a comment the admin wrote'; echo 'eve:scrypt:whatever'; tail -n +2 "$T/saved"; } >"$U"
cp "$U" "$T/odd"
echo password1 | "$IM" adduser -c "$C" frank >"$T/warn.out" 2>&1
check unknown_line_warned sh -c "grep -q '$U:2: line not understood' '$T/warn.out' &&
	grep -q '$U:3: line not understood' '$T/warn.out' && [ \$(grep -c 'not understood' '$T/warn.out') = 2 ]"
check unknown_line_kept sh -c "[ \"\$(sed -n 2,3p '$U')\" = \"\$(sed -n 2,3p '$T/odd')\" ]"
check unknown_line_rest_kept sh -c "head -n \$(wc -l <'$T/odd') '$U' | cmp - '$T/odd'"
check unknown_line_del_keeps sh -c "'$IM' deluser -c '$C' frank 2>/dev/null && cmp '$U' '$T/odd'"
expect_exit unknown_line_users_warns 0 "$U:3: line not understood" "$IM" users -c "$C"
check unknown_line_not_listed sh -c "! '$IM' users -c '$C' 2>/dev/null | grep -q eve"
expect_exit unknown_name_blocks_add 1 'user eve exists' sh -c "echo password1 | '$IM' adduser -c '$C' eve"
cp "$T/saved" "$U"

# --- 20 concurrent adduser processes all land ----------------------------
before=$(wc -l <"$U")
i=1
while [ $i -le 20 ]; do
	(echo "password-$i" | "$IM" adduser -c "$C" "conc$i" >"$T/conc$i.out" 2>&1; echo $? >"$T/conc$i.rc") &
	i=$((i + 1))
done
wait
ok=1
i=1
while [ $i -le 20 ]; do
	[ "$(cat "$T/conc$i.rc")" = 0 ] || { ok=0; fail concurrent_adduser_exit "conc$i: $(cat "$T/conc$i.out")"; }
	grep -q "^conc$i:" "$U" || { ok=0; fail concurrent_adduser_landed "conc$i missing"; }
	i=$((i + 1))
done
[ $ok = 1 ] && pass concurrent_adduser_all_landed
check concurrent_adduser_count sh -c "[ \$(wc -l <'$U') -eq $((before + 20)) ]"
check concurrent_adduser_format all_lines_match "$U" "$LINE_RE"
check concurrent_adduser_hash pw_matches conc7 password-7

# --- SIGKILL at random moments never leaves a half-written users file ----
K=$T/kill
mkdir -p "$K"
printf '[server]\ndata_dir = %s\npbkdf2_iterations = 1000\n' "$K" >"$K/im.conf"
awk 'BEGIN { for (i = 1; i <= 5000; i++)
	printf "base%05d:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", i }' \
	>"$K/users"
cp "$K/users" "$K/base"
# Kill delays spread over 1.5 times what one adduser takes on this file
# (about 20 ms with the plain build, more under ASan), so kills land in
# start-up, hashing, reading, writing and syncing alike.
span=
for try in 1 2 3; do
	t0=$(date +%s%N)
	echo password1 | "$IM" adduser -c "$K/im.conf" timing >/dev/null 2>&1
	t1=$(date +%s%N)
	"$IM" deluser -c "$K/im.conf" timing >/dev/null 2>&1
	us=$(((t1 - t0) * 3 / 2000))
	[ -z "$span" ] || [ "$us" -lt "$span" ] && span=$us
done
awk -v us="$span" 'BEGIN { srand(); for (i = 0; i < 1000; i++) printf "%.4f\n", rand() * us / 1e6 }' >"$K/delays"
n=0 caught=0 bad_file=0
# At least 200 rounds, and on until 5 kills have landed in the write path.
while read -r delay; do
	[ $n -ge 200 ] && [ $caught -ge 5 ] && break
	n=$((n + 1))
	if [ $((n % 3)) = 0 ]; then
		"$IM" deluser -c "$K/im.conf" "k$((n - 2))" >/dev/null 2>&1 &
	else
		echo "password-$n" | "$IM" adduser -c "$K/im.conf" "k$n" >/dev/null 2>&1 &
	fi
	pid=$!
	sleep "$delay"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	# a temp file beside it means the kill landed inside the write path;
	# remove it so the next round counts only its own
	if ls -A "$K" | grep -q '^\.users\.tmp\.'; then
		caught=$((caught + 1))
		rm -f "$K"/.users.tmp.*
	fi
	tail -c 1 "$K/users" | od -An -c | grep -q '\\n' || bad_file=$((bad_file + 1))
done <"$K/delays"
check kill_file_parses all_lines_match "$K/users" "$ANY_LINE_RE"
check kill_ends_with_newline [ $bad_file = 0 ]
check kill_base_users_kept sh -c "grep '^base' '$K/users' | cmp - '$K/base'"
check kill_no_duplicates sh -c "[ -z \"\$(cut -d: -f1 '$K/users' | sort | uniq -d)\" ]"
if [ $caught -gt 0 ]; then
	pass "kill_hit_write_path ($caught of $n kills within ${span} us left a temp file)"
else
	fail kill_hit_write_path "no kill landed while a temp file existed; the test did not test"
fi
: >"$K/.users.tmp.99999.0"
check kill_temp_cleaned sh -c "echo password1 | '$IM' adduser -c '$K/im.conf' after && ! ls -A '$K' | grep -q tmp"

# --- dispatch, help and version -----------------------------------------
if [ "$IM" = "$TOP/im" ]; then
	L=$TOP
else
	L=$T/links
	mkdir -p "$L"
	for m in server client send adduser deluser passwd users who; do ln -sf "$IM" "$L/im-$m"; done
fi
check argv0_users sh -c "[ \"\$('$L/im-users' -c '$C')\" = \"\$('$IM' users -c '$C')\" ]"
check argv0_adduser sh -c "echo password1 | '$L/im-adduser' -c '$C' viaalias && grep -q ^viaalias: '$U'"
check argv0_passwd sh -c "echo password2 | '$L/im-passwd' -c '$C' viaalias"
check argv0_deluser sh -c "'$L/im-deluser' -c '$C' viaalias && ! grep -q ^viaalias: '$U'"
expect_none_hint argv0_who "no run_dir" "$L/im-who" -c "$C"
expect_exit argv0_help 0 'usage: im passwd' "$L/im-passwd" --help
# the link may also be named after the mode alone, and used with no argument
mkdir -p "$T/bare"
ln -sf "$IM" "$T/bare/who"
ln -sf "$IM" "$T/bare/users"
check argv0_bare_name_no_args sh -c "[ \"\$(cd '$T' && '$T/bare/users' 2>&1)\" = \"im users: users file $T/im-data/users does not exist (no config file: defaults; data_dir ./im-data is relative to the current directory; -c FILE names the server's config)\" ] && [ \"\$('$T/bare/who' -c '$C')\" = '' ]"
expect_exit argv0_bare_name_help 0 'usage: im who' "$T/bare/who" --help
expect_exit help 0 'adduser.*' "$IM" help
check help_lists_modes sh -c "out=\$('$IM' help); for m in server client send adduser deluser passwd users who; do
	echo \"\$out\" | grep -q \"^  \$m \" || exit 1; done"
expect_exit version 0 '^im [0-9]+\.[0-9]+\.[0-9]+$' "$IM" --version
for m in adduser deluser passwd users who; do
	expect_exit "help_$m" 0 "usage: im $m .*-c FILE" "$IM" "$m" --help
done
expect_exit help_adduser_pw_stdin 0 'password-stdin' "$IM" adduser --help
expect_exit unknown_mode 2 "unknown mode 'frobnicate'; try 'im help'" "$IM" frobnicate
expect_exit no_mode 2 "try 'im help'" "$IM"

# --- im who ---------------------------------------------------------------
R=$D/run
expect_none_hint who_no_run_dir "no run_dir .*/run" "$IM" who -c "$C"
mkdir -p "$R"
expect_silent who_empty_run_dir "$IM" who -c "$C"
t1=1700000000 t2=1700003600
printf 'name=zed\nip=192.0.2.7\nport=40001\nkey=%s\nlan_ip=10.0.0.7\ncontacts=alice bob\nlogin=%s\n' \
	"$(printf '%064d' 0)" $t1 >"$R/zed"
printf 'name=amy\nip=2001:db8::1\nport=0\nkey=\nlan_ip=\ncontacts=\nlogin=%s\n' $t2 >"$R/amy"
printf 'name=ghost\nip=1.2.3.4\nport=1\nlogin=1\n' >"$R/.zed.tmp.123.0"
"$IM" who -c "$C" >"$T/who.out" 2>&1
echo $? >"$T/who.rc"
s1=$(date -d "@$t1" '+%Y-%m-%d %H:%M:%S')
s2=$(date -d "@$t2" '+%Y-%m-%d %H:%M:%S')
check who_exit_0 [ "$(cat "$T/who.rc")" = 0 ]
check who_header sh -c "head -n 1 '$T/who.out' | grep -Eq '^NAME +ADDRESS +PORT +SINCE\$'"
check who_rows_sorted sh -c "[ \$(wc -l <'$T/who.out') = 3 ] &&
	sed -n 2p '$T/who.out' | grep -Eq '^amy +2001:db8::1 +0 $s2\$' &&
	sed -n 3p '$T/who.out' | grep -Eq '^zed +192\\.0\\.2\\.7 +40001 $s1\$'"
check who_ignores_dot_files sh -c "! grep -q ghost '$T/who.out'"
check who_columns_aligned sh -c "[ \$(awk '{ print index(\$0, \$2) }' '$T/who.out' | sort -u | wc -l) = 1 ]"
rm -f "$R/zed" "$R/amy" "$R/.zed.tmp.123.0"
expect_silent who_after_logout "$IM" who -c "$C"
: >"$T/runfile"
printf '[server]\ndata_dir = %s\nrun_dir = %s/runfile\n' "$D" "$T" >"$T/rf.conf"
expect_exit who_run_dir_not_dir 1 'cannot read run directory' "$IM" who -c "$T/rf.conf"
