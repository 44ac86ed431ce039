#!/bin/sh
# t_service: running under a service manager. sd_notify readiness (READY=1
# after the listening line, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 at
# SIGTERM) to a path and to an abstract NOTIFY_SOCKET, with none and with a
# bad one; the systemd unit (systemd-analyze verify, its ExecStart and
# ExecReload run as systemd would); the SysV/BusyBox init script for real
# (start, status, reload, stop, with Debian's start-stop-daemon, BusyBox's,
# and none; log = syslog, caught on a /dev/log of the test's own in a
# private mount namespace when this user may make one); the OpenWrt procd
# script (syntax, the command it gives procd run for real); root's admin
# modes beside a server that runs as a user of its own.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
NOTIFYRECV=$TOP/build/tests/notifyrecv
SVC=$TOP/service
unset NOTIFY_SOCKET

# nr_start ID SOCKET [LOG]: a notify (or syslog) receiver on SOCKET writing
# $T/ID.nr (with LOG's size at each datagram); waits until it is bound.
nr_start() {
	: >"$T/$1.nr"
	"$NOTIFYRECV" -w 600 ${3:+-l "$3"} "$2" >"$T/$1.nr" 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$T/$1.nr" '^\*bound ' 10
}

# nr_field ID PATTERN FIELD: FIELD (pid, log, or a NAME= of the datagram)
# of the first datagram of ID matching PATTERN.
nr_field() {
	_nl=$(grep -m 1 -E -- "$2" "$T/$1.nr")
	case $3 in
	pid | log) printf '%s\n' "$_nl" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -n 1 ;;
	*) printf '%s\n' "${_nl#pid=* log=* }" | tr '|' '\n' | sed -n "s/^$3=//p" | head -n 1 ;;
	esac
}

# subst FILE BINDIR SYSCONFDIR: FILE with the install placeholders filled.
subst() {
	sed -e "s#@BINDIR@#$2#g" -e "s#@SYSCONFDIR@#$3#g" "$1"
}

# The binary as "im" in a directory of its own (the unit runs BINDIR/im).
mkdir -p "$T/bin"
ln -s "$IM" "$T/bin/im"

# ---------------------------------------------------------------------------
# sd_notify: a path socket
C=$T/s.conf
srv_conf "$C"
need notify_receiver nr_start n "$T/notify.sock" "$T/s.log"
export NOTIFY_SOCKET="$T/notify.sock"
need server_start srv_start "$C" "$T/s.log"
unset NOTIFY_SOCKET
if wait_for "$T/n.nr" 'READY=1' 10; then
	bytes=$(nr_field n 'READY=1' log)
	if head -c "${bytes:-0}" "$T/s.log" | grep -q "listening on 127.0.0.1:$PORT" &&
		head -c "${bytes:-0}" "$T/s.log" | grep -q 'server ready'; then
		pass notify_ready_after_listening
	else
		fail notify_ready_after_listening "READY=1 came when the log held $bytes bytes: $(head -c "${bytes:-0}" "$T/s.log" | tail -n 2 | tr '\n' '|')"
	fi
	if [ "$(nr_field n 'READY=1' pid)" = "$SRV_PID" ] && [ "$(nr_field n 'READY=1' MAINPID)" = "$SRV_PID" ]; then
		pass notify_ready_from_main_pid
	else
		fail notify_ready_from_main_pid "server $SRV_PID: $(grep -m 1 READY "$T/n.nr")"
	fi
	if [ "$(nr_field n 'READY=1' STATUS)" = "listening on 127.0.0.1:$PORT; sign-up allowed" ]; then
		pass notify_ready_status
	else
		fail notify_ready_status "$(grep -m 1 READY "$T/n.nr")"
	fi
else
	fail notify_ready_after_listening "no READY=1: $(tr '\n' '|' <"$T/n.nr")"
fi
if signup a alice 4001 "$KEYA"; then pass notify_login_after_ready; else
	fail notify_login_after_ready "$(tr '\n' '|' <"$T/a.out")"; fi
if [ "$(grep -c 'READY=1' "$T/n.nr")" = 1 ]; then pass notify_ready_once; else
	fail notify_ready_once "$(tr '\n' '|' <"$T/n.nr")"; fi

mark "$T/n.nr" "$T/s.log"
kill -HUP "$SRV_PID"
if wait_new "$T/n.nr" 'READY=1' 10 && wait_new "$T/s.log" 'SIGHUP: reloading' 10; then
	r=$(new_lines "$T/n.nr" | grep -n -m 1 'RELOADING=1' | cut -d: -f1)
	y=$(new_lines "$T/n.nr" | grep -n -m 1 'READY=1' | cut -d: -f1)
	if [ -n "$r" ] && [ "$r" -lt "$y" ] && new_lines "$T/n.nr" | grep -Eq 'RELOADING=1\|MONOTONIC_USEC=[1-9][0-9]*(\||$)'; then
		pass notify_reload
	else
		fail notify_reload "after SIGHUP: $(new_lines "$T/n.nr" | tr '\n' '|')"
	fi
else
	fail notify_reload "no READY=1 after SIGHUP: $(new_lines "$T/n.nr" | tr '\n' '|')"
fi
mark "$T/n.nr"
srv_stop notify_server_stops
if wait_new "$T/n.nr" 'STOPPING=1' 10; then pass notify_stopping; else
	fail notify_stopping "nothing after SIGTERM: $(new_lines "$T/n.nr" | tr '\n' '|')"; fi

# ---------------------------------------------------------------------------
# sd_notify: an abstract socket
ABS="@im-t-service-$$-$(date +%s)"
need notify_abstract_receiver nr_start ab "$ABS"
export NOTIFY_SOCKET="$ABS"
need server_start_abstract srv_start "$C" "$T/s2.log"
unset NOTIFY_SOCKET
if wait_for "$T/ab.nr" "^pid=$SRV_PID .*READY=1\\|MAINPID=$SRV_PID" 10; then pass notify_abstract_ready; else
	fail notify_abstract_ready "$(tr '\n' '|' <"$T/ab.nr")"; fi
srv_stop notify_abstract_server_stops
if wait_for "$T/ab.nr" 'STOPPING=1' 10; then pass notify_abstract_stopping; else
	fail notify_abstract_stopping "$(tr '\n' '|' <"$T/ab.nr")"; fi

# ---------------------------------------------------------------------------
# no NOTIFY_SOCKET: nothing changes
need server_start_plain srv_start "$C" "$T/s3.log"
if login c alice && ! grep -q NOTIFY "$T/s3.log"; then pass notify_none_runs; else
	fail notify_none_runs "$(tr '\n' '|' <"$T/c.out") / $(grep NOTIFY "$T/s3.log")"; fi
srv_stop notify_none_server_stops

# a socket path that does not exist, then a value that is no socket
# address: one warning each, and the server serves
for bad in "$T/nodir/notify.sock" relative/notify.sock; do
	case $bad in
	/*) tag=missing want="NOTIFY_SOCKET $T/nodir/notify.sock: cannot send READY=1: No such file or directory" ;;
	*) tag=relative want="NOTIFY_SOCKET 'relative/notify.sock' is not an absolute path" ;;
	esac
	export NOTIFY_SOCKET="$bad"
	need "server_start_$tag" srv_start "$C" "$T/s-$tag.log"
	unset NOTIFY_SOCKET
	if wait_for "$T/s-$tag.log" "warn: $want" 10; then pass "notify_${tag}_warns"; else
		fail "notify_${tag}_warns" "$(tail -n 3 "$T/s-$tag.log" | tr '\n' '|')"; fi
	mark "$T/s-$tag.log"
	kill -HUP "$SRV_PID"
	setup "reload_$tag" wait_new "$T/s-$tag.log" 'SIGHUP: reloading' 10
	if login "d$tag" alice; then pass "notify_${tag}_serves"; else
		fail "notify_${tag}_serves" "$(tr '\n' '|' <"$T/d$tag.out")"; fi
	srv_stop "notify_${tag}_server_stops"
	n=$(grep -c 'NOTIFY_SOCKET' "$T/s-$tag.log")
	if [ "$n" = 1 ]; then pass "notify_${tag}_warns_once"; else
		fail "notify_${tag}_warns_once" "$n warnings: $(grep NOTIFY_SOCKET "$T/s-$tag.log" | tr '\n' '|')"; fi
done

# ---------------------------------------------------------------------------
# the systemd unit
for f in im.service im.init openwrt/im; do
	if grep -q '@BINDIR@' "$SVC/$f" && grep -q '@SYSCONFDIR@' "$SVC/$f" &&
		! subst "$SVC/$f" /x /y | grep -Eq '@[A-Z_]+@'; then
		pass "service_placeholders_$(echo "$f" | tr / _)"
	else
		fail "service_placeholders_$(echo "$f" | tr / _)" "$(grep -E '@[A-Z_]+@' "$SVC/$f" | head -n 3 | tr '\n' '|')"
	fi
done
missing=""
for d in 'Type=notify' 'DynamicUser=yes' 'StateDirectory=im' 'ProtectSystem=strict' 'ProtectHome=yes' \
	'PrivateTmp=yes' 'NoNewPrivileges=yes' 'Restart=on-failure' 'ExecReload=/bin/kill -HUP $MAINPID' \
	'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' 'ExecStart=@BINDIR@/im server -c @SYSCONFDIR@/im.conf'; do
	grep -qxF -- "$d" "$SVC/im.service" || missing="$missing [$d]"
done
if [ -z "$missing" ]; then pass unit_directives; else fail unit_directives "missing:$missing"; fi

mkdir -p "$T/unit" "$T/etc" "$T/state"
U=$T/unit/im.service
subst "$SVC/im.service" "$T/bin" "$T/etc" >"$U"
if command -v systemd-analyze >/dev/null 2>&1; then
	# --man=no: the man pages are not installed here
	if systemd-analyze verify --man=no "$U" >"$T/verify.out" 2>&1 && [ ! -s "$T/verify.out" ]; then
		pass unit_verify
	else
		fail unit_verify "$(head -c 400 "$T/verify.out" | tr '\n' '|')"
	fi
else
	skip unit_verify "systemd-analyze is not installed on this machine"
fi

# ExecStart and ExecReload run as systemd runs them: in WorkingDirectory,
# with NOTIFY_SOCKET, no fork; SIGTERM (KillSignal) ends it with status 0.
srv_conf "$T/etc/im.conf"
need unit_receiver nr_start u "$T/unit-notify.sock" "$T/unit.log"
start_cmd=$(sed -n 's/^ExecStart=//p' "$U")
(cd "$T/state" && NOTIFY_SOCKET="$T/unit-notify.sock" exec $start_cmd) 2>"$T/unit.log" &
UPID=$!
PIDS="$PIDS $UPID"
if wait_for "$T/u.nr" "^pid=$UPID .*READY=1" 15; then pass unit_execstart_ready; else
	fail unit_execstart_ready "no READY=1 from pid $UPID: $(tr '\n' '|' <"$T/u.nr") log: $(tail -n 3 "$T/unit.log" | tr '\n' '|')"; fi
reload_cmd=$(sed -n 's/^ExecReload=//p' "$U" | sed "s/\$MAINPID/$UPID/")
mark "$T/u.nr" "$T/unit.log"
if $reload_cmd && wait_new "$T/u.nr" 'RELOADING=1' 10 && wait_new "$T/u.nr" 'READY=1' 10 &&
	wait_new "$T/unit.log" 'SIGHUP: reloading' 10; then
	pass unit_execreload
else
	fail unit_execreload "$(new_lines "$T/u.nr" | tr '\n' '|')"
fi
kill -TERM "$UPID"
wait "$UPID"
rc=$?
if [ $rc -eq 0 ] && grep -q 'STOPPING=1' "$T/u.nr"; then pass unit_stop_clean; else
	fail unit_stop_clean "exit $rc: $(tail -n 2 "$T/u.nr" | tr '\n' '|')"; fi

# ---------------------------------------------------------------------------
# the SysV / BusyBox init script, for real. Its placeholders point nowhere:
# DAEMON, CONFIG and PIDFILE come from the defaults file (IM_DEFAULTS).
SV=$T/sysv
mkdir -p "$SV/bb"
subst "$SVC/im.init" /nonexistent/bin /nonexistent/etc >"$SV/im.init"
printf 'DAEMON=%s\nCONFIG=%s\nPIDFILE=%s\n' "$IM" "$SV/im.conf" "$SV/im.pid" >"$SV/default"
srv_conf "$SV/im.conf" "log = syslog"
sed -i "s#^data_dir = .*#data_dir = $SV/data#" "$SV/im.conf"
need sysv_notify_receiver nr_start sv "$SV/notify.sock"

# With a mount namespace of its own, the server's /dev/log is a socket of
# this test: its syslog lines are read here.
NS=""
if unshare -m --propagation private true 2>/dev/null; then
	need sysv_syslog_receiver nr_start syslog "$SV/log.sock"
	cat >"$SV/ns.sh" <<'EOF'
set -e
mkdir -p "$NS_DIR/olddev"
mount --rbind /dev "$NS_DIR/olddev"
mount -t tmpfs -o mode=0755 im-test-dev /dev
for f in "$NS_DIR"/olddev/* "$NS_DIR"/olddev/.[!.]*; do
	[ -e "$f" ] || [ -L "$f" ] || continue
	ln -s "$f" "/dev/${f##*/}"
done
ln -sfn "$NS_DIR/log.sock" /dev/log
exec "$@"
EOF
	NS="unshare -m --propagation private env NS_DIR=$SV sh $SV/ns.sh"
fi

# sysv ACTION SHELL PATH: runs the script; its output in $SV/out, status in rc.
sysv() {
	env PATH="$3" IM_DEFAULTS="$SV/default" NOTIFY_SOCKET="$SV/notify.sock" $2 "$SV/im.init" "$1" >"$SV/out" 2>&1
	rc=$?
}
outline() { tr '\n' '|' <"$SV/out"; }

# sysv_run TAG SHELL PATH: start, status, start again, reload, stop, status.
sysv_run() {
	tag=$1 sh_=$2 path=$3
	mark "$T/sv.nr" "$T/syslog.nr"
	env PATH="$path" IM_DEFAULTS="$SV/default" NOTIFY_SOCKET="$SV/notify.sock" $NS $sh_ "$SV/im.init" start >"$SV/out" 2>&1
	rc=$?
	# whatever happens next, the test's end stops it
	PIDS="$PIDS $(cat "$SV/im.pid" 2>/dev/null)"
	if [ $rc -eq 0 ] && grep -q '^Starting im server' "$SV/out"; then pass "sysv_${tag}_start"; else
		fail "sysv_${tag}_start" "exit $rc: $(outline)"; fi
	if ! wait_new "$T/sv.nr" 'READY=1' 15; then
		fail "sysv_${tag}_ready" "no READY=1: $(new_lines "$T/sv.nr" | tr '\n' '|')"
		sysv stop "$sh_" "$path"
		return
	fi
	spid=$(new_lines "$T/sv.nr" | grep -m 1 'READY=1' | sed -n 's/^pid=\([0-9]*\) .*/\1/p')
	PIDS="$PIDS $spid"
	if [ "$(cat "$SV/im.pid" 2>/dev/null)" = "$spid" ]; then pass "sysv_${tag}_pidfile"; else
		fail "sysv_${tag}_pidfile" "pid file holds '$(cat "$SV/im.pid" 2>&1)', the server is $spid"; fi
	if [ -n "$NS" ]; then
		if wait_new "$T/syslog.nr" "im-server\\[$spid\\]: listening on 127\\.0\\.0\\.1:[0-9]+" 10; then
			pass "sysv_${tag}_syslog"
		else
			fail "sysv_${tag}_syslog" "no listening line on /dev/log: $(new_lines "$T/syslog.nr" | tail -n 3 | tr '\n' '|')"
		fi
	else
		skip "sysv_${tag}_syslog" "no private mount namespace for a /dev/log of the test's own (needs root); startup with log = syslog is still checked"
	fi
	PORT=$(new_lines "$T/sv.nr" | grep -m 1 'READY=1' | sed -n 's/.*STATUS=listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p')
	if signup "$tag" "u$tag" && sync "$tag"; then pass "sysv_${tag}_login"; else
		fail "sysv_${tag}_login" "port '$PORT': $(tr '\n' '|' <"$T/$tag.out")"; fi
	sysv status "$sh_" "$path"
	if [ $rc -eq 0 ] && grep -q "^im is running (pid $spid)" "$SV/out"; then pass "sysv_${tag}_status"; else
		fail "sysv_${tag}_status" "exit $rc: $(outline)"; fi
	sysv start "$sh_" "$path"
	if [ $rc -eq 0 ] && grep -q "already running (pid $spid)" "$SV/out" && [ "$(cat "$SV/im.pid")" = "$spid" ]; then
		pass "sysv_${tag}_start_twice"
	else
		fail "sysv_${tag}_start_twice" "exit $rc: $(outline)"
	fi
	mark "$T/sv.nr" "$T/syslog.nr"
	sysv reload "$sh_" "$path"
	if [ $rc -eq 0 ] && wait_new "$T/sv.nr" 'RELOADING=1' 10; then
		if [ -z "$NS" ]; then
			pass "sysv_${tag}_reload"
		elif wait_new "$T/syslog.nr" "im-server\\[$spid\\]: SIGHUP: reloading" 10; then
			pass "sysv_${tag}_reload"
		else
			fail "sysv_${tag}_reload" "not logged: $(new_lines "$T/syslog.nr" | tr '\n' '|')"
		fi
	else
		fail "sysv_${tag}_reload" "exit $rc: $(outline) notify: $(new_lines "$T/sv.nr" | tr '\n' '|')"
	fi
	sysv stop "$sh_" "$path"
	if [ $rc -eq 0 ] && grep -q '^Stopping im server' "$SV/out" && ! alive "$spid" && [ ! -e "$SV/im.pid" ]; then
		pass "sysv_${tag}_stop"
	else
		fail "sysv_${tag}_stop" "exit $rc: $(outline); pid $spid $(alive "$spid" && echo alive)"
	fi
	sysv status "$sh_" "$path"
	if [ $rc -eq 3 ] && grep -q '^im is not running' "$SV/out"; then pass "sysv_${tag}_status_stopped"; else
		fail "sysv_${tag}_status_stopped" "exit $rc: $(outline)"; fi
}

if [ -n "${IM_EMULATOR:-}" ]; then
	# the script checks that the pid it started runs $DAEMON
	# (/proc/PID/exe); under an emulator that process is qemu
	skip sysv_run "under $IM_EMULATOR the server's process is qemu's, which the script rightly takes for another program"
elif command -v start-stop-daemon >/dev/null 2>&1; then
	sysv_run ssd sh "$PATH"
else
	skip sysv_ssd "start-stop-daemon is not installed"
fi
if [ -n "${IM_EMULATOR:-}" ]; then
	: # skipped above
elif command -v busybox >/dev/null 2>&1; then
	ln -s "$(command -v busybox)" "$SV/bb/start-stop-daemon"
	sysv_run busybox "busybox sh" "$SV/bb:/usr/bin:/bin"
else
	skip sysv_busybox "busybox is not installed (Debian: apt-get install busybox)"
fi
# no start-stop-daemon on PATH: the script's own pid file and kill
if [ -n "${IM_EMULATOR:-}" ]; then
	: # skipped above
elif env PATH=/usr/bin:/bin sh -c 'command -v start-stop-daemon' >/dev/null 2>&1; then
	skip sysv_plain "start-stop-daemon is in /usr/bin or /bin here"
else
	sysv_run plain sh /usr/bin:/bin
fi

# a stale pid file, then a bad config: said so, nothing started
echo 999999 >"$SV/im.pid"
sysv status sh "$PATH"
if [ $rc -eq 1 ] && grep -q 'not running, but' "$SV/out"; then pass sysv_status_stale_pidfile; else
	fail sysv_status_stale_pidfile "exit $rc: $(outline)"; fi
rm -f "$SV/im.pid"
printf 'bogus_key = 1\n' >>"$SV/im.conf"
sysv start sh "$PATH"
if [ $rc -ne 0 ] && grep -q 'im.conf:[0-9]*:.*bogus_key' "$SV/out" && [ ! -e "$SV/im.pid" ]; then
	pass sysv_bad_config
else
	fail sysv_bad_config "exit $rc: $(outline)"
fi

# ---------------------------------------------------------------------------
# A server that runs as a user of its own (user =, as DynamicUser= under
# systemd), and root adding the first account by hand on a fresh data_dir:
# the users file and its lock stay the server's, so it reads them and its
# own sign-ups still write them. Under /tmp, 0755, so nobody reaches it.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && U=$(mktemp -d /tmp/im-service-own.XXXXXX); then
	chmod 755 "$U"
	srv_conf "$T/own.conf" "data_dir = $U/data" "user = nobody"
	need own_server_start srv_start "$T/own.conf" "$T/own.log"
	if printf 'zoe-pw\n' | "$IM" adduser -c "$T/own.conf" zoe >"$T/own-add.out" 2>&1; then
		if [ "$(stat -c %U "$U/data/users" 2>/dev/null)" = nobody ] &&
			[ "$(stat -c %U "$U/data/users.lock" 2>/dev/null)" = nobody ]; then
			pass own_adduser_files_stay_the_servers
		else
			fail own_adduser_files_stay_the_servers "$(ls -l "$U/data" | tr '\n' '|')"
		fi
		if login z1 zoe; then pass own_adduser_login; else
			fail own_adduser_login "$(tr '\n' '|' <"$T/z1.out") log: $(tail -n 2 "$T/own.log" | tr '\n' '|')"; fi
		if signup z2 yves; then pass own_signup_after_adduser; else
			fail own_signup_after_adduser "$(tr '\n' '|' <"$T/z2.out") log: $(tail -n 2 "$T/own.log" | tr '\n' '|')"; fi
	else
		fail own_adduser_login "adduser failed: $(tr '\n' '|' <"$T/own-add.out")"
	fi
	srv_stop own_server_stops
	no_crash own_no_crash "$T/own.log"
	# The folder's owner plants a hard link to a file of root's under the
	# lock's name (here root makes it; with fs.protected_hardlinks=0 the
	# owner can): root's next admin run must not hand that file over.
	echo "root's secret" >"$U/secret"
	chmod 600 "$U/secret"
	rm -f "$U/data/users.lock"
	if ln "$U/secret" "$U/data/users.lock" 2>/dev/null; then
		printf 'xena-pw\n' | "$IM" adduser -c "$T/own.conf" xena >"$T/own-add2.out" 2>&1
		if [ "$(stat -c %U "$U/secret")" = root ] && [ "$(stat -c %a "$U/secret")" = 600 ]; then
			pass own_lock_hardlink_not_given_away
		else
			fail own_lock_hardlink_not_given_away "the linked file is now $(stat -c '%U %a' "$U/secret")"
		fi
	else
		skip own_lock_hardlink_not_given_away "cannot make a hard link in $U"
	fi
	rm -rf "$U"
else
	skip own_adduser_login "needs root, a user nobody and mktemp"
fi

# ---------------------------------------------------------------------------
# the OpenWrt procd script: syntax, then what it hands procd, run for real
OW=$T/openwrt-im
mkdir -p "$T/owetc"
subst "$SVC/openwrt/im" "$T/bin" "$T/owetc" >"$OW"
check procd_sh_syntax sh -n "$OW"
if command -v busybox >/dev/null 2>&1; then
	check procd_busybox_syntax busybox sh -n "$OW"
else
	skip procd_busybox_syntax "busybox is not installed (Debian: apt-get install busybox)"
fi
srv_conf "$T/owetc/im.conf"
sed -i "s#^data_dir = .*#data_dir = $T/owdata#" "$T/owetc/im.conf"
# rc.common's procd helpers as stubs that record their calls
cat >"$T/procd-stubs.sh" <<'EOF'
procd_open_instance() { echo "open $*" >>"$REC"; }
procd_set_param() { echo "param $*" >>"$REC"; }
procd_close_instance() { echo "close" >>"$REC"; }
procd_send_signal() { echo "signal $*" >>"$REC"; }
EOF
REC=$T/procd.rec
: >"$REC"
env REC="$REC" sh -c '. "$1"; . "$2"; start_service && reload_service' sh "$T/procd-stubs.sh" "$OW" >"$T/procd.out" 2>&1
if grep -qxF "param command $T/bin/im server -c $T/owetc/im.conf" "$REC" && grep -q '^param respawn ' "$REC" &&
	grep -qx 'close' "$REC" && grep -qxF 'signal im * HUP' "$REC"; then
	pass procd_params
else
	fail procd_params "$(tr '\n' '|' <"$REC") $(tr '\n' '|' <"$T/procd.out")"
fi
ow_cmd=$(sed -n 's/^param command //p' "$REC")
$ow_cmd 2>"$T/ow.log" &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
if wait_for "$T/ow.log" 'listening on 127\.0\.0\.1:[0-9]+' 10; then pass procd_command_runs; else
	fail procd_command_runs "$(tail -n 3 "$T/ow.log" | tr '\n' '|')"; fi
srv_stop procd_command_stops
printf 'bogus_key = 1\n' >>"$T/owetc/im.conf"
: >"$REC"
env REC="$REC" sh -c '. "$1"; . "$2"; start_service' sh "$T/procd-stubs.sh" "$OW" >"$T/procd.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && [ ! -s "$REC" ] && grep -q 'bogus_key' "$T/procd.out"; then pass procd_bad_config_refused; else
	fail procd_bad_config_refused "exit $rc: $(tr '\n' '|' <"$REC") $(tr '\n' '|' <"$T/procd.out")"; fi

no_crash service_no_crash "$T"/*.log
