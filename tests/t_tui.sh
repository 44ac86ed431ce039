#!/bin/sh
# t_tui: the terminal client as a person sees it, driven in a real terminal
# (tmux: fixed size, send-keys, capture-pane, pipe-pane) against a real
# server and batch peers (bob, carol, dave): log in (password file; /login
# with the prompt, the password never written), contacts coming and going
# (+ - ? !), a Unicode line edited before sending, history, Tab, keys that
# are no text, a bracketed paste, a reply while half a line is typed,
# unread windows and switching (Alt+N, Ctrl-N/P, /open, /close), resizing,
# wide characters wrapped, a peer's escape sequences neutralised,
# scrollback, the small frictions (failed mark, //, /add yourself,
# /fingerprint [NAME]), a key change and /trust, colour and NO_COLOR,
# Ctrl-L, quitting four ways with the terminal restored, plain line mode,
# 80x24 and 200x50. Screens of the main views: tests/tmp/tui-*.txt.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"
. "$(dirname "$0")/lib_client.sh"
. "$(dirname "$0")/lib_tui.sh"

if ! tui_have; then
	skip tui "tmux is not installed (./build.sh deps installs it)"
	exit 0
fi
# Characters, not bytes, for grep's '.' and wc -L (display width).
if locale -a 2>/dev/null | grep -qi '^c\.utf-\{0,1\}8$'; then export LC_ALL=C.UTF-8; fi
tui_init

srv_conf "$T/s.conf"
if ! srv_start "$T/s.conf" "$T/s.log" 3>&- 4>&- 5>&- 6>&-; then
	fail tui_server_start "no readiness line"
	exit 1
fi

# --- accounts: alice (the terminal's user) lists bob and carol; they list her
cli_conf alice
cli_conf bob
cli_conf carol
cli_start alice 3
tell alice "signup alice alice-pw1" "add bob" "add carol"
need alice_signup got alice '^ready alice$'
tell alice quit
cli_eof alice
need alice_batch_quit cli_wait alice 10
cli_start bob 4
cli_start carol 5
tell bob "signup bob bob-pw1" "add alice"
tell carol "signup carol carol-pw1" "add alice"
need bob_ready got bob '^ready bob$'
need carol_ready got carol '^ready carol$'
printf 'alice-pw1\n' >"$T/alice.pw"
chmod 600 "$T/alice.pw"
# No resume token: each login of the terminal client is with the password.
cp "$T/alice.conf" "$T/tui.conf"
printf 'password_file = %s/alice.pw\nresume_tokens = no\n' "$T" >>"$T/tui.conf"
cp "$T/alice.conf" "$T/nopw.conf"
printf 'resume_tokens = no\n' >>"$T/nopw.conf"
KEY=$("$IM" client -c "$T/tui.conf" --fingerprint 2>/dev/null)

# nospace FILE: the dialog column of a screen (left of the contact list's
# '|'), all its rows run together without spaces: text the view wrapped
# reads whole again.
nospace() { sed 's/|.*$//' "$1" | tr -d ' \n'; }

# quit_check HOW ID: the client ended, and the terminal is as it was:
# `stty -a` the same before and after, the alternate screen left (tmux's
# alternate_on is 0), nothing of the view left on the screen, and the
# shell's output after it shown. (The shell's lines from before the client
# are not required: tmux 3.3 in a detached session often loses the screen
# saved under the alternate one, even for a bare printf of ESC [?1049h.)
quit_check() {
	if ! tui_exited "$2" 15; then
		fail "tui_quit_${1}_exits" "still running 15 s later: $(tui_dump "$2")"
		return
	fi
	pass "tui_quit_${1}_exits"
	if tui_stty_same "$2"; then pass "tui_quit_${1}_stty_restored"; else
		fail "tui_quit_${1}_stty_restored" "$(diff "$T/$2.stty0n" "$T/$2.stty1n" 2>&1 | tr '\n' '|' | head -c 600)"; fi
	tui_cap "$2" "$T/$2.end"
	if [ "$(tui_info "$2" '#{alternate_on}')" = 0 ] && grep -q "^the shell after $2\$" "$T/$2.end" &&
		! grep -Eq '^ im: |\[alice\] connected|Contacts' "$T/$2.end"; then
		pass "tui_quit_${1}_screen_back"
	else
		fail "tui_quit_${1}_screen_back" "alternate_on=$(tui_info "$2" '#{alternate_on}'): $(tui_dump "$2")"
	fi
}

# layout NAME ID W H PROMPT: the full-screen layout at W x H: H rows, none
# wider than W (nothing wrapped by the terminal: -J joins such rows), the
# title bar on row 1, the status line on row H-1, the input line with
# PROMPT on row H, and the contact list (a '|' column at W-20, "Contacts"
# at its top) at 60 columns and more, none below. Waits up to 10 s for a
# redraw that fits.
layout() {
	_n=$1 _id=$2 _w=$3 _h=$4 _p=$5
	_i=0
	while :; do
		tx capture-pane -p -J -t "=$_id:" >"$T/$_id.lay"
		_why=""
		[ "$(wc -l <"$T/$_id.lay")" -eq "$_h" ] || _why="$_why $(wc -l <"$T/$_id.lay") rows, not $_h;"
		_wide=$(wc -L <"$T/$_id.lay")
		[ "$_wide" -le "$_w" ] || _why="$_why a row $_wide columns wide;"
		sed -n 1p "$T/$_id.lay" | grep -q '^ im: ' || _why="$_why no title bar on row 1;"
		sed -n "$((_h - 1))p" "$T/$_id.lay" | grep -q '^\[alice\] connected' || _why="$_why no status line on row $((_h - 1));"
		sed -n "${_h}p" "$T/$_id.lay" | grep -Eq "^$_p" || _why="$_why no prompt '$_p' on row $_h;"
		if [ "$_w" -ge 60 ]; then
			_c=$((_w - 21))
			sed -n 2p "$T/$_id.lay" | grep -Eq "\| ?Contacts" || _why="$_why no 'Contacts' after a '|' on row 2;"
			# the '|' at column W-20 of every row between: what is
			# left of it is W-21 columns wide (wc -L: display width,
			# a wide character counting 2)
			_bad=0
			sed -n "2,$((_h - 2))p" "$T/$_id.lay" >"$T/$_id.rows"
			while IFS= read -r _row; do
				case $_row in *'|'*) ;; *)
					_bad=$((_bad + 1))
					continue
					;;
				esac
				[ "$(printf '%s\n' "${_row%|*}" | wc -L)" -eq "$_c" ] || _bad=$((_bad + 1))
			done <"$T/$_id.rows"
			[ "$_bad" -eq 0 ] || _why="$_why $_bad rows of 2..$((_h - 2)) without the '|' at column $((_c + 1));"
		elif grep -q 'Contacts' "$T/$_id.lay"; then
			_why="$_why the contact list shown below 60 columns;"
		fi
		[ -z "$_why" ] && break
		_i=$((_i + 1))
		[ $_i -lt 50 ] || break
		sleep 0.2
	done
	if [ -z "$_why" ]; then pass "$_n"; else fail "$_n" "$_why screen: $(tr '\n' '|' <"$T/$_id.lay" | head -c 1500)"; fi
}

# ===== the main run: 80x24, logged in from the password file (-u) =====
mark "$T/bob.out" "$T/carol.out"
need tui_main_started tui_start m 80 24 "$T/tui.conf" -u alice
if tui_wait_row m status '^\[alice\] connected' 20; then pass tui_login_password_file_status_line; else
	fail tui_login_password_file_status_line "$(tui_dump m)"; fi
if tui_wait_row m 1 '^ im: status' 5; then pass tui_title_bar_status; else fail tui_title_bar_status "$(tui_dump m)"; fi
if [ "$(tui_info m '#{alternate_on}')" = 1 ]; then pass tui_alternate_screen_used; else
	fail tui_alternate_screen_used "alternate_on is $(tui_info m '#{alternate_on}')"; fi
if tui_wait m '\| ?\+ bob' 15 && tui_wait m '\| ?\+ carol' 5; then pass tui_contacts_online; else
	fail tui_contacts_online "$(tui_dump m)"; fi
setup bob_sees_alice got_new bob '^online alice ' 15
setup carol_sees_alice got_new carol '^online alice ' 15
if tui_lacks m 'alice-pw1'; then pass tui_password_file_not_shown; else fail tui_password_file_not_shown "$(tui_dump m)"; fi
# a configured user is logging in already: the first line says so, not how to start
if tui_wait m 'logging in as alice' 5 && tui_lacks m 'signup NAME to start'; then pass tui_greeting_names_login; else
	fail tui_greeting_names_login "$(tui_dump m)"; fi
tui_save m status-80x24

# --- plain text in window 1 is refused with a hint naming /open
tui_type m "hello-status"
tui_keys m Enter
tui_shows tui_text_in_status_window_names_open m '/open'

# --- open bob's window; type a Unicode line and edit it before sending
# Tab completes the command, then the contact's name
tui_type m "/ope"
tui_keys m Tab
tui_type m "b"
tui_keys m Tab
if tui_wait_row m last '^\[status\] /open bob *$' 10; then pass tui_tab_completes_command_and_name; else
	fail tui_tab_completes_command_and_name "last row: '$(tail -n 1 "$T/m.screen")'"; fi
tui_keys m C-u
tui_type m "/open bob"
tui_keys m Enter
if tui_wait_row m 1 '^ im: bob \(online\)' 10 && tui_wait_row m last '^\[bob\]( |$)' 5; then
	pass tui_open_window_title_and_prompt
else
	fail tui_open_window_title_and_prompt "$(tui_dump m)"
fi
tui_type m "junk to kill"
tui_keys m C-u
tui_type m "xx日本語 😀 end"
tui_keys m Home Delete Delete C-e Left Left Left Left Left Left BSpace C-a
tui_type m "héllo "
tui_keys m C-e C-w
tui_type m "wörld"
WANT='héllo 日本 😀 wörld'
if tui_wait_row m last "^\[bob\] $WANT *\$" 10; then pass tui_edit_input_line_shows_edit; else
	fail tui_edit_input_line_shows_edit "last row: '$(tail -n 1 "$T/m.screen")'"; fi
mark "$T/bob.out"
tui_keys m Enter
if got_new bob '^msg alice [^ ]+ ' 15 && new_lines "$T/bob.out" | grep '^msg alice ' | head -n 1 |
	cut -d ' ' -f 4- | grep -qxF "$WANT"; then
	pass tui_edit_unicode_peer_gets_edited_text
else
	fail tui_edit_unicode_peer_gets_edited_text "bob got: $(new_lines "$T/bob.out" | tr '\n' '|')"
fi
tui_shows tui_sent_entry_in_dialog m "^[0-9]{2}:[0-9]{2} alice: $WANT"
if tui_wait_row m last '^\[bob\] *$' 5; then pass tui_input_empty_after_send; else
	fail tui_input_empty_after_send "last row: '$(tail -n 1 "$T/m.screen")'"; fi
tui_keys m Up
if tui_wait_row m last "^\[bob\] $WANT *\$" 10; then pass tui_history_up_recalls_line; else
	fail tui_history_up_recalls_line "last row: '$(tail -n 1 "$T/m.screen")'"; fi
tui_keys m Down
setup history_down_empties tui_wait_row m last '^\[bob\] *$' 10

# --- a reply while half a line is typed
tui_type m "half a li"
setup half_typed tui_wait_row m last '^\[bob\] half a li$' 10
tell bob "msg alice reply-while-typing"
tui_shows tui_reply_shown_while_typing m '^[0-9]{2}:[0-9]{2} bob: reply-while-typing'
if tui_wait_row m last '^\[bob\] half a li$' 2; then pass tui_input_survives_reply; else
	fail tui_input_survives_reply "last row: '$(tail -n 1 "$T/m.screen")'"; fi
tui_save m conversation
mark "$T/bob.out"
tui_type m "ne done"
tui_keys m Enter
want_new tui_half_line_sent_whole bob '^msg alice [^ ]+ half a line done$' 15

# --- keys that are no text never reach a message (F5, Insert, Ctrl-T,
# Ctrl-G, Ctrl-Right); Right, Ctrl-K and End edit
mark "$T/bob.out"
tui_type m "ctl"
tui_keys m F5 IC C-t C-g C-Right
tui_type m "-keep drop-that"
tui_keys m Home Right Right Right Right Right Right Right Right C-k End
tui_type m "!"
setup keys_typed tui_wait_row m last '^\[bob\] ctl-keep!$' 10
tui_keys m Enter
want_new tui_keys_no_control_bytes_in_message bob '^msg alice [^ ]+ ctl-keep!$' 15
# a bracketed paste with a line break is one message, its lines never
# commands: the pasted "/quit" is text
tx set-buffer -b tuip "$(printf 'pasted one\n/quit two')"
mark "$T/bob.out"
tx paste-buffer -p -d -b tuip -t "=m:"
setup paste_shown tui_wait_row m last '^\[bob\] pasted one /quit two$' 10
tui_keys m Enter
want_new tui_paste_one_message bob '^msg alice [^ ]+ pasted one /quit two$' 15
if [ ! -f "$T/m.rc" ] && tui_wait_row m 1 '^ im: bob' 2; then pass tui_paste_no_command; else
	fail tui_paste_no_command "the client ended or left the window: $(tui_dump m)"; fi

# --- a message from carol, whose window is not open
tell carol "msg alice carol-says-hi"
if tui_wait_row m status '3:carol\*' 15; then pass tui_unread_marked_in_window_list; else
	fail tui_unread_marked_in_window_list "$(tui_dump m)"; fi
tui_shows tui_unread_count_in_contact_list m '\| ?\+ carol \(1\)' 5
if tui_lacks m 'carol-says-hi' && tui_wait_row m 1 '^ im: bob' 1; then pass tui_unread_not_switched; else
	fail tui_unread_not_switched "$(tui_dump m)"; fi
tui_save m unread
tui_keys m M-3
if tui_wait_row m 1 '^ im: carol \(online\)' 10 && tui_wait m 'carol: carol-says-hi' 5 &&
	tui_gone m 'carol \(1\)|3:carol\*' 5; then
	pass tui_switch_alt_number_reads_unread
else
	fail tui_switch_alt_number_reads_unread "$(tui_dump m)"
fi
tui_keys m C-p
tui_shows tui_switch_ctrl_p m '^ im: bob ' 10
tui_keys m C-n
tui_shows tui_switch_ctrl_n m '^ im: carol ' 10
tui_keys m M-1
tui_shows tui_switch_alt_1_status m '^ im: status' 10
tui_type m "/open bob"
tui_keys m Enter
tui_shows tui_switch_open m '^ im: bob ' 10
if tui_wait_row m status '\[2:bob\]' 5; then pass tui_open_window_bracketed; else
	fail tui_open_window_bracketed "status line: '$(sed -n 23p "$T/m.screen")'"; fi

# --- a peer's escape sequences: shown as visible text, never obeyed
setup dialog_before tui_wait m 'bob: reply-while-typing' 5
tui_pipe m "$T/m.pipe"
tell bob "$(printf 'msg alice esc-test \033[2J\033]0;pwned\007\033[31mred end')"
tui_shows tui_peer_escape_shown_visible m 'bob: esc-test \\x1b\[2J\\x1b\]0;pwned\\x07\\x1b\[31mred end'
if tui_wait m 'bob: reply-while-typing' 1; then pass tui_peer_escape_screen_not_cleared; else
	fail tui_peer_escape_screen_not_cleared "$(tui_dump m)"; fi
# The view itself never writes an OSC (ESC ]) or a BEL: any is the peer's.
if [ -s "$T/m.pipe" ] && ! LC_ALL=C grep -aq "$(printf '\033')\]\|$(printf '\007')" "$T/m.pipe"; then
	pass tui_peer_escape_never_written
else
	fail tui_peer_escape_never_written "$(wc -c <"$T/m.pipe") bytes written: $(LC_ALL=C grep -ao "$(printf '\033')\].\{0,12\}" "$T/m.pipe" | od -c | head -n 3 | tr '\n' '|')"
fi
tui_pipe m
title=$(tui_info m '#{pane_title}')
case $title in *pwned*) fail tui_peer_escape_title_not_set "pane title '$title'" ;; *) pass tui_peer_escape_title_not_set ;; esac
# With -e the cells' attributes come back as SGR sequences (ESC [ ... m);
# any other escape would be one that reached the terminal.
tui_cape m >"$T/m.esc"
if LC_ALL=C sed "s/$(printf '\033')\[[0-9;:]*m//g" "$T/m.esc" | LC_ALL=C grep -aq "$(printf '[\001-\010\013-\037\177]')"; then
	fail tui_peer_escape_no_foreign_sequence "$(LC_ALL=C sed "s/$(printf '\033')\[[0-9;:]*m//g" "$T/m.esc" | LC_ALL=C grep -a "$(printf '[\001-\010\013-\037\177]')" | od -c | head -n 5 | tr '\n' '|')"
else
	pass tui_peer_escape_no_foreign_sequence
fi
tui_save m neutralised
# colours: SGR 30-37, 38, 90-97 among the attributes
colours() { LC_ALL=C grep -ao "$(printf '\033')\[[0-9;:]*m" "$1" | tr -d 'm[\033' | tr ';:' '\n\n' | grep -Ec '^(3[0-8]|9[0-7])$'; }
if [ "$(colours "$T/m.esc")" -gt 0 ]; then pass tui_colour_without_no_color; else
	fail tui_colour_without_no_color "no colour in: $(od -c "$T/m.esc" | head -n 5 | tr '\n' '|')"; fi

# --- scrollback: 40 lines from bob, more than the 21 dialog rows
for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40; do
	tell bob "msg alice scroll-$i"
done
setup scroll_40_shown tui_wait m 'bob: scroll-40' 30
# lowest ID: the smallest scroll-NN number on the screen (99: none).
lowest() { grep -o 'scroll-[0-9][0-9]' "$T/m.screen" | sort | head -n 1 | sed 's/scroll-//;s/^$/99/'; }
tui_cap m "$T/m.screen"
low0=$(lowest)
if [ "$low0" != 99 ] && [ "$low0" -gt 1 ]; then pass tui_scroll_window_full; else
	fail tui_scroll_window_full "lowest shown: $low0: $(tui_dump m)"; fi
tui_keys m PPage
if tui_wait_row m 1 'more below' 10 && tui_gone m 'bob: scroll-40' 5 && [ "$(lowest)" -lt "$low0" ]; then
	pass tui_scroll_pageup
else
	fail tui_scroll_pageup "lowest was $low0, now $(lowest): $(tui_dump m)"
fi
tui_save m scrollback
i=0
while ! tui_wait m 'bob: scroll-01' 1 && [ $i -lt 12 ]; do
	tui_keys m PPage
	i=$((i + 1))
done
if tui_wait m 'bob: scroll-01' 2; then pass tui_scroll_pageup_reaches_first; else
	fail tui_scroll_pageup_reaches_first "$i pages: $(tui_dump m)"; fi
i=0
while ! tui_wait m 'bob: scroll-40' 1 && [ $i -lt 12 ]; do
	tui_keys m NPage
	i=$((i + 1))
done
if tui_wait m 'bob: scroll-40' 2 && tui_gone m 'more below' 5; then pass tui_scroll_pagedown_back; else
	fail tui_scroll_pagedown_back "$i pages: $(tui_dump m)"; fi

# --- wide characters (CJK, emoji) wrap by character within the dialog,
# at 80x24 and at 40x15, and nothing is lost or overflows
WIDE=wide-
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do WIDE="${WIDE}日本語😀"; done
WIDE="${WIDE}-end"
tell bob "msg alice $WIDE"
i=0
while [ $i -lt 50 ]; do
	tui_cap m "$T/m.screen"
	nospace "$T/m.screen" | grep -qF "$WIDE" && break
	sleep 0.2
	i=$((i + 1))
done
if nospace "$T/m.screen" | grep -qF "$WIDE"; then pass tui_wide_text_wrapped_whole; else
	fail tui_wide_text_wrapped_whole "$(tui_dump m)"; fi
layout tui_layout_wide_text_80x24 m 80 24 '\[bob\]( |$)'
tui_save m wide
if setup resize_wide_40x15 tui_resize m 40 15; then
	layout tui_layout_wide_text_40x15 m 40 15 '\[bob\]( |$)'
	if tui_wait m 'wide-' 5 && nospace "$T/m.screen" | grep -qF "$WIDE"; then pass tui_wide_text_rewrapped_40x15; else
		fail tui_wide_text_rewrapped_40x15 "$(tui_dump m)"; fi
	setup resize_wide_back tui_resize m 80 24
fi

# --- small frictions: //, /add yourself
mark "$T/bob.out"
tui_type m "//slash-text"
tui_keys m Enter
want_new tui_double_slash_sends_slash bob '^msg alice [^ ]+ /slash-text$' 15
tui_type m "/add alice"
tui_keys m Enter
tui_shows tui_add_self_refused m 'you cannot add yourself' 10
# /fingerprint in window 1: the client's own key, as --fingerprint prints it
tui_keys m M-1
setup back_to_status tui_wait_row m 1 '^ im: status' 10
tui_type m "/fingerprint"
tui_keys m Enter
i=0
while [ $i -lt 50 ]; do
	tui_cap m "$T/m.screen"
	nospace "$T/m.screen" | grep -qF "$KEY" && break
	sleep 0.2
	i=$((i + 1))
done
if [ -n "$KEY" ] && nospace "$T/m.screen" | grep -qF "$KEY"; then pass tui_fingerprint_shows_own_key; else
	fail tui_fingerprint_shows_own_key "key '$KEY' not on the screen: $(tui_dump m)"; fi
# /fingerprint bob, typed in bob's window: the key alice pinned for bob,
# as bob's --fingerprint, shown there (a command's answer never switches
# windows)
BOBKEY=$("$IM" client -c "$T/bob.conf" --fingerprint 2>/dev/null)
tui_keys m M-2
setup to_bob_window tui_wait_row m 1 '^ im: bob' 10
tui_type m "/fingerprint bob"
tui_keys m Enter
i=0
while [ $i -lt 50 ]; do
	tui_cap m "$T/m.screen"
	nospace "$T/m.screen" | grep -qF "$BOBKEY" && break
	sleep 0.2
	i=$((i + 1))
done
if [ -n "$BOBKEY" ] && nospace "$T/m.screen" | grep -qF "$BOBKEY"; then pass tui_fingerprint_name_shows_contact_key; else
	fail tui_fingerprint_name_shows_contact_key "key '$BOBKEY' not on the screen: $(tui_dump m)"; fi
if tui_row m 1 | grep -q '^ im: bob'; then pass tui_fingerprint_stays_in_window; else
	fail tui_fingerprint_stays_in_window "title now: $(tui_row m 1)"; fi
tui_save m fingerprint
tui_keys m M-1
setup back_to_status_again tui_wait_row m 1 '^ im: status' 10

# --- resizing: the layout at each size (window 1: ASCII text only)
for size in 120x40 60x20 40x15 80x24; do
	w=${size%x*} h=${size#*x}
	if setup "resize_$size" tui_resize m "$w" "$h"; then
		layout "tui_layout_$size" m "$w" "$h" '\[status\]( |$)'
		tui_save m "$size"
	fi
done

# --- bob leaves: '- bob'; a message to him is marked as not delivered
tui_type m "/open bob"
tui_keys m Enter
setup bob_window_again tui_wait_row m 1 '^ im: bob ' 10
tell bob quit
cli_eof bob
setup bob_quit cli_wait bob 10
if tui_wait m '\| ?- bob' 15 && tui_wait_row m 1 '^ im: bob \(offline\)' 5; then pass tui_contact_offline; else
	fail tui_contact_offline "$(tui_dump m)"; fi
tui_type m "tob"
tui_keys m Enter
tui_shows tui_failed_marked_not_delivered m 'alice: tob \[not delivered: [^]]+\]' 30
tui_save m failed

# --- /close carol: her window goes, the list is renumbered
tui_type m "/close carol"
tui_keys m Enter
if tui_wait_row m status '^\[alice\] connected +1:status \[2:bob\] *$' 10; then pass tui_close_removes_window; else
	fail tui_close_removes_window "status line: '$(sed -n 23p "$T/m.screen")'"; fi

# --- /quit
tui_type m "/quit"
tui_keys m Enter
quit_check slash_quit m
if [ "$(cat "$T/m.rc" 2>/dev/null)" = 0 ]; then pass tui_quit_slash_quit_status_0; else
	fail tui_quit_slash_quit_status_0 "exit $(cat "$T/m.rc" 2>/dev/null)"; fi

# bob_fresh: bob's batch client started again, so that each run of
# alice's terminal client meets a bob with nothing of her earlier runs
# (a running bob took her next run's message ids for repeats until peer.c
# forgot a contact's ids at OFFLINE; t_client_ui covers that itself).
bob_fresh() {
	if [ -n "${CPID_bob:-}" ] && alive "$CPID_bob"; then
		tell bob quit
		cli_eof bob
		cli_wait bob 10
	fi
	cli_start bob 4
	tell bob "login bob bob-pw1"
	need bob_ready_again got bob '^ready bob$'
}
bob_fresh

# ===== /login NAME with the password prompt; quit with Ctrl-D =====
need tui_pw_started tui_start p 80 24 "$T/nopw.conf"
if tui_wait_row p status '^\[not logged in\]' 15; then pass tui_not_logged_in_status; else
	fail tui_not_logged_in_status "$(tui_dump p)"; fi
tui_type p "/login alice"
tui_keys p Enter
if tui_wait_row p last '^password: *$' 10; then pass tui_password_prompt; else
	fail tui_password_prompt "last row: '$(tail -n 1 "$T/p.screen")'"; fi
# Every byte the client writes from here on goes to $T/p.pipe too: the
# password must never be among them (not only: not on the screen now).
tui_pipe p "$T/p.pipe"
tui_type p "alice-pw1"
tui_save p password-prompt
tui_keys p Enter
if tui_wait_row p status '^\[alice\] connected' 20; then pass tui_login_prompted_status_line; else
	fail tui_login_prompted_status_line "$(tui_dump p)"; fi
if [ -s "$T/p.pipe" ] && ! grep -aq 'alice-pw1' "$T/p.pipe" && tui_lacks p 'alice-pw1|\*\*\*'; then
	pass tui_password_typed_never_written
else
	fail tui_password_typed_never_written "$(wc -c <"$T/p.pipe") bytes written, $(grep -ac 'alice-pw1' "$T/p.pipe") with the password: $(tui_dump p)"
fi
tui_keys p C-d
quit_check ctrl_d p

# ===== 200x50: every part of the layout; quit with Ctrl-C =====
need tui_big_started tui_start b 200 50 "$T/tui.conf" -u alice
setup big_logged_in tui_wait_row b status '^\[alice\] connected' 20
setup big_bob_online tui_wait b '\| ?\+ bob' 15
layout tui_layout_200x50 b 200 50 '\[status\]( |$)'
tui_type b "/open bob"
tui_keys b Enter
mark "$T/bob.out"
tui_type b "big-screen-line"
tui_keys b Enter
setup big_sent got_new bob '^msg alice [^ ]+ big-screen-line$' 15
if tui_wait b '^[0-9]{2}:[0-9]{2} alice: big-screen-line' 10; then
	layout tui_layout_200x50_conversation b 200 50 '\[bob\]( |$)'
else
	fail tui_layout_200x50_conversation "no sent entry: $(tui_dump b)"
fi
tui_save b 200x50
tui_keys b C-c
quit_check ctrl_c b

# ===== NO_COLOR; a contact comes online while watching; kill -TERM =====
TUI_ENV="TERM=xterm-256color NO_COLOR=1"
need tui_term_started tui_start k 80 24 "$T/tui.conf" -u alice
TUI_ENV="TERM=xterm-256color"
setup term_logged_in tui_wait_row k status '^\[alice\] connected' 20
setup term_bob_online tui_wait k '\| ?\+ bob' 15
# dave lists alice, alice does not list him: "? dave", after the online
cli_conf dave
cli_start dave 6
tell dave "signup dave dave-pw1" "add alice"
setup dave_ready got dave '^ready dave$'
if tui_wait k '\| ?\? dave' 15; then
	rows=$(grep -En '\| ?[-+?!] [a-z]+' "$T/k.screen" | sed -E 's/^([0-9]+):.*\| ?([-+?!] [a-z]+).*/\2/' | tr '\n' ',')
	if [ "$rows" = "+ bob,+ carol,? dave," ]; then pass tui_contact_asked_you_after_online; else
		fail tui_contact_asked_you_after_online "contact rows: $rows"; fi
else
	fail tui_contact_asked_you_after_online "$(tui_dump k)"
fi
tui_save k asked
tell dave quit
cli_eof dave
cli_wait dave 10
tell bob quit
cli_eof bob
setup term_bob_quit cli_wait bob 10
setup term_bob_offline tui_wait k '\| ?- bob' 15
bob_fresh
tui_shows tui_contact_comes_online k '\| ?\+ bob' 15
# bob reinstalls (a new key under his name): "! bob", the window's title
# says so, the warning shows once in his window; /trust bob accepts it
tell bob quit
cli_eof bob
setup key_bob_quit cli_wait bob 10
setup key_bob_offline tui_wait k '\| ?- bob' 15
rm -f "$T/bob/id.key" "$T/bob/id.crt"
bob_fresh
tui_shows tui_keychange_contact_marked k '\| ?! bob' 15
tui_type k "/open bob"
tui_keys k Enter
tui_shows tui_keychange_title k '^ im: bob \(key changed\)' 10
setup keychange_warning_shown tui_wait k 'WARNING.*NEW KEY' 5
tui_save k keychange
tui_type k "/trust bob"
tui_keys k Enter
if tui_wait k '\| ?\+ bob' 15 && tui_wait_row k 1 '^ im: bob \(online\)' 10; then pass tui_trust_clears_keychange; else
	fail tui_trust_clears_keychange "$(tui_dump k)"; fi
# the whole story in bob's window (open, the warning, /trust, online):
# the warning once
n=$(grep -c 'WARNING' "$T/k.screen")
if [ "$n" -eq 1 ]; then pass tui_keychange_warning_once; else fail tui_keychange_warning_once "$n times: $(tui_dump k)"; fi
# Ctrl-L: something else wrote on the terminal; the view draws itself anew
printf '\033[5;5HSTRAY-OUTPUT-XYZ' >"$(tui_info k '#{pane_tty}')"
if setup stray_output_shown tui_wait k 'STRAY-OUTPUT-XYZ' 10; then
	tui_keys k C-l
	if tui_gone k 'STRAY-OUTPUT-XYZ' 10 && tui_wait_row k 1 '^ im: bob' 5; then pass tui_ctrl_l_redraws; else
		fail tui_ctrl_l_redraws "$(tui_dump k)"; fi
fi
tui_cape k >"$T/k.esc"
if [ "$(colours "$T/k.esc")" -eq 0 ] && LC_ALL=C grep -aq "$(printf '\033')\[" "$T/k.esc"; then pass tui_no_color_honoured; else
	fail tui_no_color_honoured "$(colours "$T/k.esc") colour codes"; fi
kill -TERM "$(tui_pid k)"
quit_check sigterm k

# ===== plain line mode: TERM=dumb, and --plain =====
# plain_row ID: the number of the last row that is not blank (where plain
# mode's input line is).
plain_row() { tui_cap "$1" | sed 's/ *$//' | grep -n -v '^$' | tail -n 1 | cut -d: -f1; }
# plain_run HOW ID ARGS...: the prompt, a sent line shown once, an
# incoming message while typing leaves the input whole.
plain_run() {
	_how=$1 _pid=$2
	shift 2
	bob_fresh
	mark "$T/bob.out"
	need "tui_${_how}_started" tui_start "$_pid" 80 24 "$T/tui.conf" -u alice "$@"
	if tui_wait "$_pid" '^\[status\]>( |$)' 15; then pass "tui_${_how}_prompt"; else
		fail "tui_${_how}_prompt" "$(tui_dump "$_pid")"; fi
	setup "${_how}_bob_sees_alice" got_new bob '^online alice ' 15
	tui_type "$_pid" "/open bob"
	tui_keys "$_pid" Enter
	if tui_wait "$_pid" '^\[bob\]>( |$)' 10; then pass "tui_${_how}_prompt_names_target"; else
		fail "tui_${_how}_prompt_names_target" "$(tui_dump "$_pid")"; fi
	mark "$T/bob.out"
	tui_type "$_pid" "plain-once-$_how"
	tui_keys "$_pid" Enter
	setup "${_how}_sent" got_new bob "^msg alice [^ ]+ plain-once-$_how\$" 15
	if tui_wait "$_pid" "^[0-9]{2}:[0-9]{2} alice: plain-once-$_how" 10; then
		# the prompt redrawn below the entry: the Enter's drawing is done
		setup "${_how}_prompt_after_entry" tui_wait_row "$_pid" "$(plain_row "$_pid")" '^\[bob\]> *$' 10
		n=$(tui_cap "$_pid" | grep -c "plain-once-$_how")
		if [ "$n" -eq 1 ]; then pass "tui_${_how}_line_shown_once"; else
			fail "tui_${_how}_line_shown_once" "$n times: $(tui_dump "$_pid")"; fi
	else
		fail "tui_${_how}_line_shown_once" "no dialog entry: $(tui_dump "$_pid")"
	fi
	tui_type "$_pid" "half-$_how"
	setup "${_how}_half_typed" tui_wait "$_pid" "^\[bob\]> half-$_how\$" 10
	tell bob "msg alice incoming-$_how"
	if tui_wait "$_pid" "^[0-9]{2}:[0-9]{2} bob: incoming-$_how *\$" 10 &&
		[ "$(tui_cap "$_pid" | sed 's/ *$//' | grep -v '^$' | tail -n 1)" = "[bob]> half-$_how" ]; then
		pass "tui_${_how}_input_survives_incoming"
	else
		fail "tui_${_how}_input_survives_incoming" "$(tui_dump "$_pid")"
	fi
	tui_save "$_pid" "$_how"
	mark "$T/bob.out"
	tui_type "$_pid" "-rest"
	tui_keys "$_pid" Enter
	want_new "tui_${_how}_half_line_sent_whole" bob "^msg alice [^ ]+ half-$_how-rest\$" 15
	tui_type "$_pid" "/quit"
	tui_keys "$_pid" Enter
	if tui_exited "$_pid" 15 && tui_stty_same "$_pid"; then pass "tui_${_how}_quit_stty_restored"; else
		fail "tui_${_how}_quit_stty_restored" "$(diff "$T/$_pid.stty0n" "$T/$_pid.stty1n" 2>&1 | tr '\n' '|' | head -c 600)"; fi
}
TUI_ENV="TERM=dumb"
plain_run plain_dumb d
TUI_ENV="TERM=xterm-256color"
plain_run plain_option o --plain

tell bob quit
cli_eof bob
cli_wait bob 10
tell carol quit
cli_eof carol
cli_wait carol 10
srv_stop tui_server_stops
no_crash tui_no_crash "$T/s.log" "$T"/*.err
