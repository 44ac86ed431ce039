#!/bin/sh
# t_paths: where im looks when no -c is given. The checkout build ($IM)
# reads no config and keeps its data in ./im-data of the current directory;
# an installed build ($IM_INSTALLED_BIN: built with -DIM_INSTALLED and an
# im_paths.h beside it, as ./build.sh install builds it) reads
# IM_SYSCONFDIR/im.conf and keeps the server's data in IM_LOCALSTATEDIR/lib/im.
# im --version names both; the admin modes name a users file that is not there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

VERSION_RE='^im [0-9]+\.[0-9]+\.[0-9]+$'

# said NAME CODE TEXT CMD...: CMD exits CODE and its stderr holds the fixed
# TEXT (its stdout goes to $T/said.out).
said() {
	n=$1 code=$2 text=$3
	shift 3
	"$@" >"$T/said.out" 2>"$T/said.err"
	rc=$?
	if [ $rc -eq "$code" ] && grep -Fq -- "$text" "$T/said.err"; then pass "$n"; else
		fail "$n" "exit $rc (wanted $code), wanted '$text': $(head -c 400 "$T/said.err" | tr '\n' ' ')"; fi
}

# has_line NAME FILE LINE: FILE holds exactly the line LINE.
has_line() {
	if grep -Fxq -- "$3" "$2"; then pass "$1"; else
		fail "$1" "no line '$3' in: $(head -c 600 "$2" | tr '\n' '|')"; fi
}

# version_head NAME FILE: the first two lines are what they always were.
version_head() {
	if sed -n 1p "$2" | grep -Eq "$VERSION_RE" && sed -n 2p "$2" | grep -q '^built with '; then pass "$1"; else
		fail "$1" "$(head -n 2 "$2" | tr '\n' '|')"; fi
}

# srv_here BIN DIR LOG [ARGS...]: starts BIN server with no -c from DIR on
# loopback, port 0; waits for its readiness line; sets SRV_PID and PORT.
srv_here() {
	b=$1 dir=$2 lg=$3
	shift 3
	: >"$lg"
	(cd "$dir" && exec "$b" server -p 0 -l 127.0.0.1 "$@") 2>"$lg" &
	SRV_PID=$!
	PIDS="$PIDS $SRV_PID"
	PORT=""
	wait_for "$lg" 'listening on [^ ]*:[0-9]+' 20 || return 1
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$lg" | head -n 1)
	[ -n "$PORT" ]
}

# --- the checkout build: no config, ./im-data relative to the current directory
W=$T/elsewhere
mkdir -p "$W"
W=$(cd "$W" && pwd -P)
if ! "$IM" --version >"$T/v.out" 2>&1; then
	fail checkout_version "exit $?: $(head -c 300 "$T/v.out")"
elif grep -q '^config file: ' "$T/v.out" && ! grep -q 'this build reads one only with -c FILE' "$T/v.out"; then
	# (a binary without the line is an older checkout build: tested, fails)
	skip checkout_paths "\$IM ($IM) is an installed build: $(grep '^config file: ' "$T/v.out")"
else
	(cd "$W" && "$IM" --version) >"$T/v.out" 2>&1
	version_head checkout_version_first_lines "$T/v.out"
	has_line checkout_version_config "$T/v.out" \
		'config file: none: built-in defaults (this build reads one only with -c FILE)'
	has_line checkout_version_data_dir "$T/v.out" \
		"data dir: ./im-data, relative to the current directory: now $W/im-data"
	HOME=$T/home "$IM" --version >"$T/v.out" 2>&1
	has_line checkout_version_state_dir "$T/v.out" "client state dir: $T/home/.im"
	(cd "$W" && "$IM" help) >"$T/h.out" 2>&1
	has_line checkout_help_data_dir "$T/h.out" \
		"data dir: ./im-data, relative to the current directory: now $W/im-data"
	# `cd /tmp; im users` used to print nothing and exit 0
	said checkout_users_elsewhere 1 \
		"im users: users file $W/im-data/users does not exist (no config file: defaults; data_dir ./im-data is relative to the current directory; -c FILE names the server's config)" \
		sh -c "cd '$W' && exec '$IM' users"
	said checkout_who_elsewhere 1 "im who: users file $W/im-data/users does not exist (no config file: defaults" \
		sh -c "cd '$W' && exec '$IM' who"
	check checkout_nothing_created [ ! -e "$W/im-data" ]
	said checkout_adduser_says_created 0 "im adduser: created $W/im-data/users (no config file: defaults" \
		sh -c "cd '$W' && echo 'zoe password' | exec '$IM' adduser zoe"
	check checkout_adduser_in_cwd grep -q '^zoe:' "$W/im-data/users"
	(cd "$W" && "$IM" users) >"$T/u.out" 2>&1
	check checkout_users_in_cwd [ "$(cat "$T/u.out")" = zoe ]
	# a config file lying in the directory is not read without -c
	printf '[server]\nbogus = 1\n' >"$W/im.conf"
	(cd "$W" && "$IM" users) >"$T/u.out" 2>&1
	check checkout_no_implicit_config [ "$(cat "$T/u.out")" = zoe ]
	if srv_here "$IM" "$W" "$T/cs.log"; then
		pass checkout_server_starts
		check checkout_server_key_in_cwd [ -f "$W/im-data/server.key" ]
		check checkout_server_logs_paths grep -Fq "config none (built-in defaults), data_dir $W/im-data" "$T/cs.log"
		srv_stop checkout_server_stops
	else
		fail checkout_server_starts "$(tail -n 5 "$T/cs.log" | tr '\n' '|')"
	fi
fi

# --- an installed build ----------------------------------------------------
if [ -z "${IM_INSTALLED_BIN:-}" ]; then
	skip installed_paths "IM_INSTALLED_BIN is not set (build one as ./build.sh install does: -DIM_INSTALLED with DIR/im_paths.h, e.g. build.sh's build_installed DIR; then IM_INSTALLED_BIN=DIR/im)"
	exit 0
fi
II=$IM_INSTALLED_BIN
H=$(dirname "$II")/im_paths.h
SYSCONF=$(sed -n 's/^#define IM_SYSCONFDIR "\(.*\)"$/\1/p' "$H" 2>/dev/null)
STATE=$(sed -n 's/^#define IM_LOCALSTATEDIR "\(.*\)"$/\1/p' "$H" 2>/dev/null)
BASE=$(cd "$(dirname "$II")" && pwd -P)
if [ ! -x "$II" ] || [ -z "$SYSCONF" ] || [ -z "$STATE" ]; then
	fail installed_setup "$II is not executable or $H does not define IM_SYSCONFDIR and IM_LOCALSTATEDIR"
	exit 1
fi
# The test replaces both folders with links into $T: never outside the build.
case $SYSCONF/$STATE in
"$BASE"/*/"$BASE"/*) ;;
*)
	skip installed_paths "$H names $SYSCONF and $STATE, not folders beside $II that this test may replace"
	exit 0
	;;
esac
rm -rf "$SYSCONF" "$STATE"
mkdir -p "$T/etc" "$T/var"
need installed_links sh -c "ln -s '$T/etc' '$SYSCONF' && ln -s '$T/var' '$STATE'"
DATA=$STATE/lib/im
SC=$SYSCONF/im.conf
NOCONF="no config file: defaults; -c FILE names the server's config"

# no system config: the built-in defaults, the data under LOCALSTATEDIR
(cd "$W" && HOME=$T/home "$II" --version) >"$T/iv.out" 2>&1
version_head installed_version_first_lines "$T/iv.out"
has_line installed_version_no_config "$T/iv.out" \
	"config file: none: built-in defaults ($SC does not exist; -c FILE names one)"
has_line installed_version_data_dir "$T/iv.out" "data dir: $DATA"
has_line installed_version_state_dir "$T/iv.out" "client state dir: $T/home/.im"
said installed_users_no_file 1 "im users: users file $DATA/users does not exist ($NOCONF)" \
	sh -c "cd '$W' && exec '$II' users"
said installed_adduser_default_dir 0 "im adduser: created $DATA/users ($NOCONF)" \
	sh -c "cd / && echo 'amy-password' | exec '$II' adduser amy"
check installed_adduser_wrote_there grep -q '^amy:pbkdf2-sha256:310000:' "$DATA/users"
check installed_no_cwd_data sh -c "! grep -qs '^amy:' '$W/im-data/users'"
if srv_here "$II" "$W" "$T/is.log"; then
	pass installed_server_starts
	check installed_server_key_in_state [ -f "$DATA/server.key" ]
	check installed_server_run_dir [ -d "$DATA/run" ]
	check installed_server_logs_paths grep -Fq "config none (built-in defaults), data_dir $DATA" "$T/is.log"
	srv_stop installed_server_stops
else
	fail installed_server_starts "$(tail -n 5 "$T/is.log" | tr '\n' '|')"
fi

# the sample config installed as the system config keeps the installed
# data dir (its data_dir line is a ";" line)
cp "$TOP/config/im.conf" "$SC"
(cd "$W" && "$II" --version) >"$T/iv.out" 2>&1
has_line installed_sample_config_read "$T/iv.out" "config file: $SC"
has_line installed_sample_keeps_data_dir "$T/iv.out" "data dir: $DATA"

# the system config: read by every mode when no -c is given
SD=$T/sysdata
write_sysconf() {
	{
		printf '[server]\nlisten = 127.0.0.1\nport = 0\ndata_dir = %s\n' "$SD"
		printf 'pbkdf2_iterations = 1000\nmin_password_length = 4\n'
		printf '[client]\nserver = 127.0.0.1\nserver_port = %s\npeer_listen = 127.0.0.1\n' "${1:-5190}"
		printf 'connect_timeout = 5\n'
	} >"$SC"
}
write_sysconf
(cd "$W" && "$II" --version) >"$T/iv.out" 2>&1
version_head installed_sysconf_version_first_lines "$T/iv.out"
has_line installed_sysconf_version_config "$T/iv.out" "config file: $SC"
has_line installed_sysconf_version_data_dir "$T/iv.out" "data dir: $SD"
said installed_sysconf_users_no_file 1 "im users: users file $SD/users does not exist (config $SC)" \
	sh -c "cd '$W' && exec '$II' users"
said installed_sysconf_who_no_file 1 "im who: users file $SD/users does not exist (config $SC)" \
	sh -c "cd '$W' && exec '$II' who"
said installed_sysconf_adduser 0 "im adduser: created $SD/users (config $SC)" \
	sh -c "cd '$W' && echo 'bea-password' | exec '$II' adduser bea"
check installed_sysconf_iterations grep -q '^bea:pbkdf2-sha256:1000:' "$SD/users"
check installed_sysconf_users sh -c "[ \"\$(cd '$W' && '$II' users)\" = bea ]"
check installed_sysconf_server_check sh -c "cd '$W' && '$II' server -n >'$T/n.out'"
has_line installed_sysconf_server_check_names_file "$T/n.out" "$SC: configuration ok"
# -c still wins over the system config
printf '[server]\ndata_dir = %s/other\n' "$T" >"$T/other.conf"
said installed_c_overrides 1 "im users: users file $T/other/users does not exist (config $T/other.conf)" \
	"$II" users -c "$T/other.conf"

# server and client from the system config: the client takes its server
# and port from [client], its state from ~/.im
: >"$T/ss.log"
(cd "$W" && exec "$II" server) 2>"$T/ss.log" &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
if wait_for "$T/ss.log" 'listening on 127\.0\.0\.1:[0-9]+' 20; then
	pass installed_sysconf_server_starts
	PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$T/ss.log" | head -n 1)
	check installed_sysconf_server_logs_paths grep -Fq "config $SC, data_dir $SD" "$T/ss.log"
	check installed_sysconf_server_key [ -f "$SD/server.key" ]
	write_sysconf "$PORT"
	mkdir -p "$T/home"
	(cd "$W" && printf 'login bea bea-password\n' | HOME=$T/home timeout 30 "$II" client --batch) \
		>"$T/c.out" 2>"$T/c.err"
	if grep -qx 'ready bea' "$T/c.out"; then pass installed_client_logs_in; else
		fail installed_client_logs_in "$(head -c 300 "$T/c.out" "$T/c.err" | tr '\n' '|')"; fi
	check installed_client_state_in_home [ -d "$T/home/.im" ]
	srv_stop installed_sysconf_server_stops
else
	fail installed_sysconf_server_starts "$(tail -n 5 "$T/ss.log" | tr '\n' '|')"
fi

# a broken system config stops every mode, naming the file and the line
write_sysconf
printf 'bogus = 1\n' >>"$SC"
bad_line=$(wc -l <"$SC")
said installed_bad_sysconf_users 2 "im users: $SC:$bad_line: unknown key bogus in [client] (the system config, read because no -c FILE was given)" \
	"$II" users
said installed_bad_sysconf_server 2 "im server: $SC:$bad_line: unknown key bogus" "$II" server -n
said installed_bad_sysconf_client 2 "im client: $SC:$bad_line: unknown key bogus" sh -c "HOME='$T/home' '$II' client --batch </dev/null"
"$II" --version >"$T/iv.out" 2>&1
echo $? >"$T/iv.rc"
version_head installed_bad_sysconf_version_first_lines "$T/iv.out"
check installed_bad_sysconf_version_says grep -Fq "config file: $SC, which has an error: $SC:$bad_line: unknown key bogus" "$T/iv.out"
check installed_bad_sysconf_version_exit_0 [ "$(cat "$T/iv.rc")" = 0 ]
# a link to nowhere is an error, not "no config"
rm -f "$SC"
ln -s "$T/nowhere.conf" "$SC"
said installed_dangling_sysconf 2 "$SC: cannot open: No such file or directory" "$II" users

rm -f "$SYSCONF" "$STATE"
no_crash paths_no_crash "$T/cs.log" "$T/is.log" "$T/ss.log"
