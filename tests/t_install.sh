#!/bin/sh
# t_install: ./build.sh install and uninstall for real. An install under a
# temporary PREFIX (with LOCALSTATEDIR beside it) keeps an existing config,
# puts the binary, its links, the man pages and the service files with the
# paths filled in; the installed im, run from another directory with no -c,
# reads that config, keeps its data under LOCALSTATEDIR/lib/im, and a client
# logs in to it. A DESTDIR install lays out the packager's tree; uninstall
# leaves nothing of its own behind but the config and the data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

P=$T/prefix
V=$T/var
mkdir -p "$P/etc" "$T/elsewhere"
# the config the admin already has: loopback, any port, fast hashing
{
	printf '[server]\nlisten = 127.0.0.1\nport = 0\npbkdf2_iterations = 1000\nmin_password_length = 4\n'
} >"$P/etc/im.conf"
cp "$P/etc/im.conf" "$T/conf.before"

if ! sh "$TOP/build.sh" install PREFIX="$P" LOCALSTATEDIR="$V" >"$T/install.log" 2>&1; then
	fail install_runs "$(tail -n 5 "$T/install.log" | tr '\n' '|')"
	exit 1
fi
pass install_runs
missing=""
for f in bin/im bin/im-server bin/im-client bin/im-send bin/im-adduser bin/im-deluser bin/im-passwd bin/im-users bin/im-who \
	share/man/man1/im.1 share/man/man5/im.conf.5 share/man/man1/im-server.1 share/doc/im/im.conf.sample \
	lib/systemd/system/im.service etc/init.d/im; do
	[ -e "$P/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then pass install_files; else fail install_files "missing:$missing"; fi
if cmp -s "$P/etc/im.conf" "$T/conf.before"; then pass install_keeps_config; else
	fail install_keeps_config "the existing $P/etc/im.conf was changed"; fi
if grep -q "^ExecStart=$P/bin/im server -c $P/etc/im.conf" "$P/lib/systemd/system/im.service" &&
	! grep -q '@[A-Z]*@' "$P/lib/systemd/system/im.service" "$P/etc/init.d/im"; then
	pass install_service_paths
else
	fail install_service_paths "$(grep -n 'ExecStart\|@[A-Z]*@' "$P/lib/systemd/system/im.service" "$P/etc/init.d/im" | head -n 3 | tr '\n' '|')"
fi
if grep -q "$P/etc/im.conf" "$P/share/man/man1/im.1" || grep -q "^\.ds im_sysconfdir $P/etc\$" "$P/share/man/man1/im.1"; then
	pass install_man_paths
else
	fail install_man_paths "im.1 does not name $P/etc"
fi

# --- the installed im from another directory, no -c ---
IMI=$P/bin/im
cd "$T/elsewhere" || exit 1
"$IMI" --version >"$T/version.out" 2>&1
if grep -q "^config file: $P/etc/im.conf\$" "$T/version.out" && grep -q "^data dir: $V/lib/im\$" "$T/version.out"; then
	pass installed_version_names_paths
else
	fail installed_version_names_paths "$(tr '\n' '|' <"$T/version.out")"
fi
printf 'carol-pw1\ncarol-pw1\n' | "$P/bin/im-adduser" --password-stdin carol >"$T/adduser.out" 2>&1
"$P/bin/im-users" >"$T/users.out" 2>&1
if grep -qx carol "$T/users.out" && [ -f "$V/lib/im/users" ]; then pass installed_adduser_anywhere; else
	fail installed_adduser_anywhere "$(tr '\n' '|' <"$T/adduser.out") users: $(tr '\n' '|' <"$T/users.out")"; fi
"$P/bin/im-server" 2>"$T/srv.log" &
SRV_PID=$!
PIDS="$PIDS $SRV_PID"
if wait_for "$T/srv.log" 'listening on 127\.0\.0\.1:[0-9]+' 10; then
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$T/srv.log" | head -n 1)
	pass installed_server_starts
else
	fail installed_server_starts "$(tail -n 3 "$T/srv.log" | tr '\n' '|')"
	PORT=""
fi
if [ -n "$PORT" ]; then
	if [ -f "$V/lib/im/server.key" ] && [ -d "$V/lib/im/run" ] && [ ! -e "$T/elsewhere/im-data" ]; then
		pass installed_data_in_localstatedir
	else
		fail installed_data_in_localstatedir "$(ls "$V/lib/im" "$T/elsewhere" 2>&1 | tr '\n' ' ')"
	fi
	printf '[client]\nserver = 127.0.0.1\nserver_port = %s\nstate_dir = %s/carol\n' "$PORT" "$T" >"$T/c.conf"
	printf 'login carol carol-pw1\nwho\nquit\n' | timeout 30 "$P/bin/im-client" -c "$T/c.conf" --batch >"$T/cl.out" 2>"$T/cl.err"
	if grep -q '^ready carol$' "$T/cl.out"; then pass installed_client_logs_in; else
		fail installed_client_logs_in "$(tr '\n' '|' <"$T/cl.out") $(tail -n 2 "$T/cl.err" | tr '\n' '|')"; fi
	srv_stop installed_server_stops
fi
cd "$TOP" || exit 1

# --- uninstall: nothing of ours left but the config and the data ---
if sh "$TOP/build.sh" uninstall PREFIX="$P" LOCALSTATEDIR="$V" >"$T/uninstall.log" 2>&1; then
	left=$(cd "$P" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
	if [ "$left" = "./etc/im.conf " ] && [ -f "$V/lib/im/users" ]; then pass uninstall_leaves_config_and_data; else
		fail uninstall_leaves_config_and_data "left in prefix: $left; users file kept: $([ -f "$V/lib/im/users" ] && echo yes || echo no)"; fi
else
	fail uninstall_leaves_config_and_data "uninstall failed: $(tail -n 3 "$T/uninstall.log" | tr '\n' '|')"
fi

# --- a packager's DESTDIR install with PREFIX=/usr ---
DD=$T/dest
if sh "$TOP/build.sh" install DESTDIR="$DD" PREFIX=/usr INIT=procd >"$T/dest.log" 2>&1; then
	got=$(cd "$DD" && find . -type f | sort | tr '\n' ' ')
	want_some="./etc/im.conf ./etc/init.d/im ./usr/bin/im ./usr/lib/systemd/system/im.service ./usr/share/man/man1/im.1 ./usr/share/man/man5/im.conf.5"
	miss=""
	for f in $want_some; do
		case " $got " in *" $f "*) ;; *) miss="$miss $f" ;; esac
	done
	if [ -z "$miss" ] && grep -q 'USE_PROCD' "$DD/etc/init.d/im" && grep -q '^ExecStart=/usr/bin/im server -c /etc/im.conf' "$DD/usr/lib/systemd/system/im.service"; then
		pass destdir_layout
	else
		fail destdir_layout "missing:$miss; got: $got"
	fi
	# the config in DESTDIR is the sample; uninstall keeps it and nothing else
	sh "$TOP/build.sh" uninstall DESTDIR="$DD" PREFIX=/usr INIT=procd >"$T/dest-un.log" 2>&1
	left=$(cd "$DD" && find . \( -type f -o -type l \) | sort | tr '\n' ' ')
	if [ "$left" = "./etc/im.conf " ]; then pass destdir_uninstall_clean; else
		fail destdir_uninstall_clean "left: $left"; fi
else
	fail destdir_layout "install failed: $(tail -n 3 "$T/dest.log" | tr '\n' '|')"
fi

# --- bad settings are refused with a clear error ---
if sh "$TOP/build.sh" install "PREFIX=$T/a#b" >"$T/bad2.log" 2>&1; then
	fail install_odd_characters_refused "a PREFIX with '#' was accepted"
elif grep -q "PREFIX '$T/a#b' has characters" "$T/bad2.log" && [ ! -e "$T/a#b" ]; then
	pass install_odd_characters_refused
else
	fail install_odd_characters_refused "$(tail -n 2 "$T/bad2.log" | tr '\n' '|')"
fi
if sh "$TOP/build.sh" install PREFIX=relative/path >"$T/bad.log" 2>&1; then
	fail install_relative_prefix_refused "a relative PREFIX was accepted"
elif grep -q 'PREFIX must be an absolute path' "$T/bad.log"; then
	pass install_relative_prefix_refused
else
	fail install_relative_prefix_refused "$(tail -n 2 "$T/bad.log" | tr '\n' '|')"
fi
