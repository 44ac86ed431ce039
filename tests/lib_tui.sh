# lib_tui.sh: helpers for driving the terminal client in a real terminal,
# tmux (sourced after lib.sh). One private tmux server per test script
# (socket imtest<pid>, config $T/tmux.conf: no status bar, dead panes kept
# on screen), never the user's; it is killed at exit. Each screen "ID" is
# a tmux session running $T/ID.run.sh: `stty -a` to $T/ID.stty0, the
# client (its pid in $T/ID.pid, stderr in $T/ID.err), then `stty -a` to
# $T/ID.stty1 and its exit status in $T/ID.rc.
TUI_SOCK=imtest$$
TUI_ENV="TERM=xterm-256color"

# tui_have: tmux is installed.
tui_have() { command -v tmux >/dev/null 2>&1; }

# tx ARGS...: tmux on the private server, UTF-8 forced (-u) so that
# captures hold the characters the pane shows, whatever the locale.
tx() { tmux -u -L "$TUI_SOCK" -f "$T/tmux.conf" "$@"; }

tui_cleanup() {
	tx kill-server >/dev/null 2>&1
	cleanup
}

# tui_init: the private server's config and the exit trap.
tui_init() {
	printf 'set -g status off\nset -g remain-on-exit on\nset -g history-limit 100\n' >"$T/tmux.conf"
	trap tui_cleanup EXIT
	trap 'exit 1' HUP INT TERM # the EXIT trap runs then too
}

# tui_start ID COLS ROWS CONF [CLIENT-ARGS...]: a COLS x ROWS terminal
# running `env $TUI_ENV im client -c CONF ARGS` after `stty -a`. Returns 1
# if tmux could not start it.
tui_start() {
	_id=$1 _w=$2 _h=$3 _c=$4
	shift 4
	rm -f "$T/$_id.pid" "$T/$_id.rc" "$T/$_id.stty0" "$T/$_id.stty1"
	{
		echo '#!/bin/sh'
		printf 'stty -a >"%s/%s.stty0"\n' "$T" "$_id"
		printf 'echo "the shell before %s"\n' "$_id"
		printf "sh -c 'echo \$\$ >\"%s/%s.pid\"; exec env %s ASAN_OPTIONS=\"%s\" UBSAN_OPTIONS=\"%s\" \"%s\" client -c \"%s\"" \
			"$T" "$_id" "$TUI_ENV" "$ASAN_OPTIONS" "$UBSAN_OPTIONS" "$IM" "$_c"
		for _a in "$@"; do printf ' "%s"' "$_a"; done
		printf "' 2>>\"%s/%s.err\"\n" "$T" "$_id"
		echo '_rc=$?'
		printf 'stty -a >"%s/%s.stty1"\n' "$T" "$_id"
		printf 'echo "the shell after %s"\n' "$_id"
		printf 'echo $_rc >"%s/%s.rc"\n' "$T" "$_id"
	} >"$T/$_id.run.sh"
	tx kill-session -t "=$_id" >/dev/null 2>&1
	tx new-session -d -s "$_id" -x "$_w" -y "$_h" "sh $T/$_id.run.sh" || return 1
	wait_for "$T/$_id.pid" '^[0-9]+$' 10
}

# tui_pid ID: the client's pid.
tui_pid() { cat "$T/$1.pid" 2>/dev/null; }

# tui_keys ID KEY...: keys by tmux name (Left, Home, BSpace, C-a, M-2,
# PPage, Enter, ...). tui_type ID TEXT: TEXT typed literally.
tui_keys() {
	_id=$1
	shift
	tx send-keys -t "=$_id:" "$@"
}
tui_type() { tx send-keys -t "=$1:" -l -- "$2"; }

# tui_cap ID [FILE]: the screen as text, one line per row (to FILE).
# tui_capj: the same with rows the terminal wrapped joined (-J), so a
# row that overflowed its width shows as one long line.
# tui_cape: with the attributes as escape sequences (-e).
tui_cap() {
	if [ $# -gt 1 ]; then tx capture-pane -p -t "=$1:" >"$2"; else tx capture-pane -p -t "=$1:"; fi
}
tui_capj() { tx capture-pane -p -J -t "=$1:"; }
tui_cape() { tx capture-pane -p -e -t "=$1:"; }

# tui_row ID N: row N (1 = top) of the screen.
tui_row() { tui_cap "$1" | sed -n "$2p"; }

# tui_info ID FORMAT: a tmux format of the pane (#{alternate_on},
# #{pane_title}, #{pane_width}x#{pane_height}, #{cursor_y}).
tui_info() { tx display -p -t "=$1:" "$2"; }

# tui_wait ID PATTERN [SECONDS]: waits until a row of the screen matches
# the extended regex PATTERN (default 10 s); the last capture stays in
# $T/ID.screen. Match only text the action makes (a unique word, or check
# its absence first with tui_lacks).
tui_wait() {
	_wi=0
	_wl=$((${3:-10} * 10))
	while [ $_wi -lt $_wl ]; do
		tui_cap "$1" "$T/$1.screen" 2>/dev/null
		grep -Eq -- "$2" "$T/$1.screen" && return 0
		sleep 0.1
		_wi=$((_wi + 1))
	done
	return 1
}

# tui_wait_row ID ROW PATTERN [SECONDS]: the same for one row (a number,
# or "last" for the bottom row, "status" for the one above it).
tui_wait_row() {
	_wi=0
	_wl=$((${4:-10} * 10))
	while [ $_wi -lt $_wl ]; do
		tui_cap "$1" "$T/$1.screen" 2>/dev/null
		_n=$(wc -l <"$T/$1.screen")
		case $2 in last) _r=$_n ;; status) _r=$((_n - 1)) ;; *) _r=$2 ;; esac
		sed -n "${_r}p" "$T/$1.screen" | grep -Eq -- "$3" && return 0
		sleep 0.1
		_wi=$((_wi + 1))
	done
	return 1
}

# tui_gone ID PATTERN [SECONDS]: waits until no row matches PATTERN.
tui_gone() {
	_wi=0
	_wl=$((${3:-10} * 10))
	while [ $_wi -lt $_wl ]; do
		tui_cap "$1" "$T/$1.screen" 2>/dev/null
		grep -Eq -- "$2" "$T/$1.screen" || return 0
		sleep 0.1
		_wi=$((_wi + 1))
	done
	return 1
}

# tui_lacks ID PATTERN: no row of the screen matches PATTERN now.
tui_lacks() { ! tui_cap "$1" | grep -Eq -- "$2"; }

# tui_shows NAME ID PATTERN [SECONDS]: passes NAME once the screen shows
# PATTERN; the failure shows the screen.
tui_shows() {
	if tui_wait "$2" "$3" "${4:-10}"; then pass "$1"; else
		fail "$1" "the screen never showed /$3/: $(tui_dump "$2")"; fi
}

# tui_dump ID: the screen on one line (rows separated by |, blank rows
# and trailing spaces dropped), for a FAIL.
tui_dump() { tui_cap "$1" 2>/dev/null | sed 's/ *$//' | grep -v '^$' | tr '\n' '|' | head -c 1500; }

# tui_resize ID COLS ROWS: resizes the terminal; returns 1 if the pane did
# not take the size within 10 s.
tui_resize() {
	tx resize-window -t "=$1:" -x "$2" -y "$3" || return 1
	_wi=0
	while [ $_wi -lt 100 ]; do
		[ "$(tui_info "$1" '#{pane_width}x#{pane_height}')" = "$2x$3" ] && return 0
		sleep 0.1
		_wi=$((_wi + 1))
	done
	return 1
}

# tui_exited ID [SECONDS]: waits until the client has ended and the
# shell after it has run `stty -a` (default 10 s).
tui_exited() { wait_for "$T/$1.rc" '^[0-9]+$' "${2:-10}"; }

# tui_save ID NAME: keeps the screen as tests/tmp/tui-NAME.txt (the screen
# captures the issue's note shows).
tui_save() { tui_cap "$1" >"$TOP/tests/tmp/tui-$2.txt"; }

# tui_stty_same ID: the terminal settings after the client are those
# before it (`stty -a`, the window size left out: a test may resize).
tui_stty_same() {
	[ -s "$T/$1.stty0" ] && [ -s "$T/$1.stty1" ] || return 1
	sed 's/rows [0-9]*; columns [0-9]*;//' "$T/$1.stty0" >"$T/$1.stty0n"
	sed 's/rows [0-9]*; columns [0-9]*;//' "$T/$1.stty1" >"$T/$1.stty1n"
	cmp -s "$T/$1.stty0n" "$T/$1.stty1n"
}

# tui_pipe ID [FILE]: from now on every byte the client writes to its
# terminal is appended to FILE as well (what was ever drawn, not only
# what the screen shows at one moment); without FILE: no more.
tui_pipe() {
	if [ $# -gt 1 ]; then
		: >"$2"
		tx pipe-pane -o -t "=$1:" "cat >>'$2'"
	else
		tx pipe-pane -t "=$1:"
	fi
}

# tui_kill ID: ends the session (the client gets SIGHUP).
tui_kill() { tx kill-session -t "=$1" >/dev/null 2>&1; }
