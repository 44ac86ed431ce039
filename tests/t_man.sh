#!/bin/sh
# t_man: the man pages cannot drift from the code. im.conf.5 documents every
# key of the table in modules/conf.c, in its section, with config/im.conf's
# default (which the unit test conf_sample_matches_defaults holds to
# conf_defaults()), the table's range, in config/im.conf's order, and no key
# the table lacks; im.1 has a subsection for every mode of main.c's table and
# names every option each "im MODE --help" prints; the title lines carry
# the binary's version; both pages render without a groff warning (groff
# -ww, and man --warnings=w -l). Each checker is also run on a page or help
# text made wrong on purpose, so it is seen to fail.
. "$(dirname "$0")/lib.sh"

M1=$TOP/man/im.1
M5=$TOP/man/im.conf.5
CONFC=$TOP/modules/conf.c
SAMPLE=$TOP/config/im.conf
need man_pages_exist test -f "$M1" -a -f "$M5" -a -f "$CONFC" -a -f "$SAMPLE"

# The key table: "section key type min max" per row of keys[] in conf.c
# (S(field, T_X, lo, hi) is [server], C(...) is [client], K(...) [cluster]).
sed -nE 's/^[[:space:]]*([SCK])\(([a-z0-9_]+),[[:space:]]*(T_[A-Z]+),[[:space:]]*([^,]+),[[:space:]]*([^)]+)\),?[[:space:]]*$/\1 \2 \3 \4 \5/p' \
	"$CONFC" | while read -r s k t lo hi; do
	case $s in S) s=server ;; C) s=client ;; K) s=cluster ;; esac
	echo "$s $k $t $(($lo)) $(($hi))"
done >"$T/table"
n=$(wc -l <"$T/table")
# a table that could not be read would make every check below vacuous
need man_conf_table_read test "$n" -ge 40

# The sample's keys in order, "section key set|derived value": a "key ="
# line is a default, a ";key =" line one worked out at run time.
awk '
/^\[[a-z]+\][[:space:]]*$/ { sec = substr($1, 2, length($1) - 2); next }
/^;?[a-z0-9_]+[[:space:]]*=/ {
	line = $0; kind = "set"
	if (substr(line, 1, 1) == ";") { kind = "derived"; line = substr(line, 2) }
	k = line; sub(/[[:space:]]*=.*/, "", k)
	v = line; sub(/^[^=]*=[[:space:]]*/, "", v); sub(/[[:space:]]+$/, "", v)
	print sec, k, kind, v
}' "$SAMPLE" >"$T/sample"

# man_conf_entries PAGE: "section<TAB>key<TAB>value<TAB>text" for each key
# entry of an im.conf.5 (".TP"/".TQ", then '.B "key = value"'), with the
# groff escapes undone; text is the entry's paragraph (shared by the keys of
# a .TQ group).
man_conf_entries() {
	awk '
	function plain(s) {
		gsub(/\\f(\[[A-Za-z]*\]|\(..|.)/, "", s)
		gsub(/\\-/, "-", s); gsub(/\\&/, "", s); gsub(/\\\(ti/, "~", s)
		gsub(/\\\(aq/, "\047", s); gsub(/\\e/, "\\", s)
		return s
	}
	function flush(   i) {
		for (i = 1; i <= nk; i++) print keys[i] "\t" text
		nk = 0; text = ""
	}
	/^\.SH / {
		flush(); sec = ""; tag = 0
		if ($0 ~ /\[server\]/) sec = "server"
		if ($0 ~ /\[client\]/) sec = "client"
		if ($0 ~ /\[cluster\]/) sec = "cluster"
		next
	}
	/^\.(SS|PP|P|LP|IP)( |$)/ { flush(); tag = 0; next }
	/^\.TP( |$)/ { flush(); tag = 1; next }
	/^\.TQ$/ { tag = 1; next }
	tag && sec != "" && /^\.B / {
		t = plain(substr($0, 4)); gsub(/^"|"$/, "", t)
		k = t; sub(/[[:space:]]*=.*/, "", k)
		v = ""
		if (t ~ /=/) { v = t; sub(/^[^=]*=[[:space:]]*/, "", v) }
		keys[++nk] = sec "\t" k "\t" v
		tag = 0; next
	}
	{ tag = 0 }
	nk > 0 {
		l = plain($0); sub(/^\.[A-Za-z]+[[:space:]]*/, "", l); gsub(/"/, "", l)
		text = text " " l
	}
	END { flush() }' "$1"
}

# conf_problems PAGE: one line per way PAGE disagrees with the table and
# the sample; nothing when it agrees.
conf_problems() {
	man_conf_entries "$1" >"$T/entries"
	while read -r s k t lo hi; do
		e=$(awk -F '\t' -v s="$s" -v k="$k" '$1 == s && $2 == k' "$T/entries")
		if [ -z "$e" ]; then
			echo "missing: [$s] $k"
			continue
		fi
		mv=$(printf '%s\n' "$e" | head -n 1 | cut -f 3)
		sl=$(awk -v s="$s" -v k="$k" '$1 == s && $2 == k' "$T/sample")
		kind=$(printf '%s\n' "$sl" | cut -d ' ' -f 3)
		sv=$(printf '%s\n' "$sl" | cut -d ' ' -f 4-)
		if [ -z "$sl" ]; then
			echo "no default: [$s] $k has no line in config/im.conf"
		elif [ "$kind" = set ] && [ "$mv" != "$sv" ]; then
			echo "default: [$s] $k = '$mv' in the page, '$sv' in config/im.conf"
		fi
		if [ "$t" = T_INT ] && ! printf '%s\n' "$e" | cut -f 4 | grep -qF "$lo..$hi"; then
			echo "range: [$s] $k: the text lacks $lo..$hi"
		fi
	done <"$T/table"
	cut -f 1,2 "$T/entries" | while read -r s k; do
		grep -q "^$s $k " "$T/table" || echo "not in the table: [$s] $k"
	done
	for s in server client cluster; do
		a=$(awk -v s=$s '$1 == s { printf "%s ", $2 }' "$T/sample")
		b=$(awk -F '\t' -v s=$s '$1 == s { printf "%s ", $2 }' "$T/entries")
		[ "$a" = "$b" ] || echo "order of [$s]: config/im.conf has '$a', the page '$b'"
	done
}

# report NAME FILE: PASS when FILE is empty, else FAIL with its lines.
report() {
	if [ ! -f "$2" ]; then
		fail "$1" "no result file $2"
	elif [ ! -s "$2" ]; then pass "$1"; else fail "$1" "$(head -n 8 "$2" | tr '\n' ';')"; fi
}

conf_problems "$M5" >"$T/conf.problems"
grep -E '^(missing|not in the table)' "$T/conf.problems" >"$T/p.keys"
grep -E '^(default|no default)' "$T/conf.problems" >"$T/p.defaults"
grep -E '^range' "$T/conf.problems" >"$T/p.ranges"
grep -E '^order' "$T/conf.problems" >"$T/p.order"
report man_conf_every_key_documented "$T/p.keys"
report man_conf_defaults_match "$T/p.defaults"
report man_conf_ranges_match "$T/p.ranges"
report man_conf_order_as_sample "$T/p.order"
ne=$(man_conf_entries "$M5" | wc -l)
if [ "$ne" -eq "$n" ]; then pass man_conf_one_entry_per_key; else
	fail man_conf_one_entry_per_key "$ne entries in the page, $n keys in the table"; fi

# The checker on a page made wrong: a key dropped, a default, a range and an
# order changed, a key the table lacks.
sed -e '/^\.B "handshake_timeout = 10"$/d' \
	-e 's/^\.B "max_contacts = 256"$/.B "max_contacts = 255"/' \
	-e 's/(0\.\.64; 0 = one per CPU core)/(0..63; 0 = one per CPU core)/' \
	-e 's/^\.B "server_port = 5190"$/.B "server_port = 5190"\n.TP\n.B "no_such_key = 1"\nText./' \
	"$M5" >"$T/bad.5"
# swap ping_interval and connect_timeout
awk '/^\.B "ping_interval = 30"$/ { print ".B \"connect_timeout = 10\""; next }
	/^\.B "connect_timeout = 10"$/ { print ".B \"ping_interval = 30\""; next } { print }' "$T/bad.5" >"$T/bad2.5"
conf_problems "$T/bad2.5" >"$T/bad.problems"
miss=""
for want in 'missing: \[server\] handshake_timeout' \
	"default: \\[server\\] max_contacts = '255'" \
	'range: \[server\] workers' \
	'not in the table: \[client\] no_such_key' \
	'order of \[client\]'; do
	grep -q "^$want" "$T/bad.problems" || miss="$miss /$want/"
done
if [ -z "$miss" ]; then pass man_conf_checker_catches_drift; else
	fail man_conf_checker_catches_drift "not reported:$miss (got: $(tr '\n' ';' <"$T/bad.problems" | head -c 300))"; fi

# --- im.1 ---

# im1_section PAGE HEAD [PARENT]: the body of the section (or, with PARENT,
# the subsection under the section PARENT) whose heading is HEAD or starts
# with HEAD and a space, escapes undone, without its heading line.
im1_section() {
	awk -v head="$2" -v parent="${3:-}" '
	function plain(s) {
		gsub(/\\f(\[[A-Za-z]*\]|\(..|.)/, "", s)
		gsub(/\\-/, "-", s); gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
		return s
	}
	/^\.S[HS] / {
		lvl = substr($0, 2, 2)
		h = $0; sub(/^\.S[HS] /, "", h); h = plain(h); gsub(/"/, "", h)
		if (lvl == "SH") sh = h
		if (on && (lvl == "SH" || parent != "")) on = 0
		if (!found && (parent == "" ? lvl == "SH" : lvl == "SS" && sh == parent) &&
		    (h == head || index(h, head " ") == 1)) { on = 1; found = 1 }
		next
	}
	on { print plain($0) }
	END { if (!found) exit 1 }' "$1"
}

# opts_of TEXT-FILE: the options (-x, --long-name) a help text names.
opts_of() {
	grep -oE '(^|[][ ,(])--?[a-zA-Z][a-zA-Z-]*' "$1" | sed -E 's/^[][ ,(]//' | sort -u
}

# im1_problems PAGE HELPDIR: HELPDIR holds "modes" (the modes of main.c's
# dispatch table), "help" (im help's output) and MODE.help (im MODE --help)
# per mode; one line per thing PAGE lacks.
im1_problems() {
	im1_section "$1" "COMMON OPTIONS" >"$T/common" || echo "no COMMON OPTIONS section"
	im1_section "$1" NAME >"$T/name" || echo "no NAME section"
	sed -e 's/\\-/-/g' -e 's/\\f.//g' "$1" >"$T/whole"
	modes=$(cat "$2/modes")
	[ -n "$modes" ] || echo "no modes"
	for m in $modes; do
		if ! im1_section "$1" "im $m" MODES >"$T/sec.$m"; then
			echo "mode $m: no subsection '.SS \"im $m ...\"'"
			continue
		fi
		[ "$m" = help ] || grep -q "im-$m" "$T/name" || echo "mode $m: im-$m not in NAME"
		opts_of "$2/$m.help" >"$T/opts.$m"
		[ -s "$T/opts.$m" ] || [ "$m" = help ] || echo "mode $m: its --help names no option"
		while read -r o; do
			re="(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|\$)"
			grep -Eq -- "$re" "$T/sec.$m" || grep -Eq -- "$re" "$T/common" ||
				echo "mode $m: option $o neither in its subsection nor under COMMON OPTIONS"
		done <"$T/opts.$m"
	done
	opts_of "$2/help" | while read -r o; do
		grep -Eq -- "(^|[^A-Za-z0-9-])$o([^A-Za-z0-9-]|\$)" "$T/whole" || echo "im help: option $o not in the page"
	done
}

H=$T/help
mkdir -p "$H"
sed -nE 's/^[[:space:]]*\{"([a-z]+)", [a-z_]+, ".*/\1/p' "$TOP/main.c" >"$H/modes"
need man_modes_read test "$(wc -l <"$H/modes")" -ge 8
need man_im_help "$IM" help >"$H/help"
for m in $(cat "$H/modes"); do
	setup "help_$m" "$IM" "$m" --help >"$H/$m.help" 2>&1
done
im1_problems "$M1" "$H" >"$T/im1.problems"
grep -E '^(mode [a-z]+: no subsection|mode [a-z]+: im-|no modes|no NAME)' "$T/im1.problems" >"$T/p.modes"
grep -vE '^(mode [a-z]+: no subsection|mode [a-z]+: im-|no modes|no NAME)' "$T/im1.problems" >"$T/p.opts"
report man_im1_every_mode "$T/p.modes"
report man_im1_every_option "$T/p.opts"

# The checker on help texts made wrong: a mode and an option the page lacks.
cp -r "$H" "$T/badhelp"
echo send >>"$T/badhelp/modes"
printf 'usage: im send [-c FILE] NAME TEXT\n' >"$T/badhelp/send.help"
printf '  --no-such-option  nothing\n' >>"$T/badhelp/server.help"
im1_problems "$M1" "$T/badhelp" >"$T/bad1.problems"
if grep -q '^mode send: no subsection' "$T/bad1.problems" &&
	grep -q '^mode server: option --no-such-option' "$T/bad1.problems"; then
	pass man_im1_checker_catches_drift
else
	fail man_im1_checker_catches_drift "got: $(tr '\n' ';' <"$T/bad1.problems" | head -c 300)"
fi

# The version in each page's title line is the binary's.
ver=$("$IM" --version | head -n 1)
for p in "$M1" "$M5"; do
	b=$(basename "$p")
	tv=$(sed -nE 's/^\.TH [^"]*"(im [0-9][^"]*)".*/\1/p' "$p")
	if [ -n "$ver" ] && [ "$tv" = "$ver" ]; then pass "man_${b}_version"; else
		fail "man_${b}_version" "the page says '$tv', $IM --version '$ver'"; fi
done

# --- rendering ---
# The installed paths are two strings a packager's sed can set.
for p in "$M1" "$M5"; do
	b=$(basename "$p")
	if grep -q '^\.ds im_sysconfdir /' "$p" && grep -q '^\.ds im_localstatedir /' "$p"; then
		pass "man_${b}_path_strings"
	else
		fail "man_${b}_path_strings" "no '.ds im_sysconfdir' / '.ds im_localstatedir' line"
	fi
done
if ! command -v groff >/dev/null 2>&1; then
	skip man_render_im.1 "groff is not installed (Debian: groff-base)"
	skip man_render_im.conf.5 "groff is not installed (Debian: groff-base)"
	skip man_paths_follow_strings "groff is not installed (Debian: groff-base)"
else
	for p in "$M1" "$M5"; do
		b=$(basename "$p")
		groff -ww -man -Tutf8 "$p" >"$T/$b.txt" 2>"$T/$b.warn"
		rc=$?
		if [ $rc -eq 0 ] && [ ! -s "$T/$b.warn" ] && [ "$(wc -l <"$T/$b.txt")" -gt 100 ]; then
			pass "man_render_$b"
		else
			fail "man_render_$b" "groff -ww exit $rc, $(wc -l <"$T/$b.txt") lines: $(head -c 300 "$T/$b.warn" | tr '\n' ' ')"
		fi
	done
	# what "./build.sh install" does with SYSCONFDIR=/etc LOCALSTATEDIR=/srv
	sed -e 's#^\.ds im_sysconfdir .*#.ds im_sysconfdir /etc#' \
		-e 's#^\.ds im_localstatedir .*#.ds im_localstatedir /srv#' "$M1" >"$T/inst.1"
	groff -man -Tascii -P-c -P-b -P-u "$T/inst.1" 2>/dev/null >"$T/inst.txt"
	if grep -q '/etc/im.conf' "$T/inst.txt" && grep -q '/srv/lib/im' "$T/inst.txt" &&
		! grep -q '/usr/local/etc' "$T/inst.txt"; then
		pass man_paths_follow_strings
	else
		fail man_paths_follow_strings "after the sed the page shows: $(grep -oE '/[a-z/]*(etc|lib/im)[a-z./]*' "$T/inst.txt" | sort -u | tr '\n' ' ')"
	fi
fi
if ! command -v man >/dev/null 2>&1 || ! command -v groff >/dev/null 2>&1; then
	skip man_l_im.1 "man or groff is not installed (Debian: man-db, groff-base)"
	skip man_l_im.conf.5 "man or groff is not installed (Debian: man-db, groff-base)"
else
	for p in "$M1:im-adduser" "$M5:im.conf - configuration file"; do
		f=${p%%:*} want=${p#*:}
		b=$(basename "$f")
		MANPAGER=cat MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings=w -l "$f" >"$T/$b.man" 2>"$T/$b.manerr"
		rc=$?
		if [ $rc -eq 0 ] && [ ! -s "$T/$b.manerr" ] && grep -qF -- "$want" "$T/$b.man"; then
			pass "man_l_$b"
		else
			fail "man_l_$b" "man -l exit $rc: $(head -c 200 "$T/$b.manerr" | tr '\n' ' ')$(head -n 5 "$T/$b.man" | tr '\n' ' ')"
		fi
	done
fi
