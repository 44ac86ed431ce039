#!/bin/sh
# t_bench_footprint: the footprint benchmark (tests/bench/run.sh footprint)
# at a tiny scale against the real server, so it cannot rot unseen (as the
# server part did when ERR 429 left its RSS rows empty): every block must
# print its figures, with $IM as both builds. No figure is judged here,
# only that each was measured; Mosquitto's row SKIPs without mosquitto.
. "$(dirname "$0")/lib.sh"
N=60
HS=40
R=2

need load_tool [ -x "$TOP/build/tests/load" ]
BENCH_QUICK=0 BENCH_SESSIONS=$N BENCH_HS=$HS BENCH_HS_ROUNDS=$R BENCH_HS_CONC=8 IM_STOCK=$IM \
	sh "$TOP/tests/bench/run.sh" footprint >"$T/fp.out" 2>&1
rc=$?
out() { tr '\n' ' ' <"$T/fp.out" | head -c 600; }
if [ $rc = 0 ]; then pass footprint_runs; else fail footprint_runs "exit $rc: $(out)"; fi

# 1. a size row, or "not built (HOW)", for each build and target
for row in "musl-x86_64 (default)|./build.sh" "stock (glibc, Debian mbedTLS)|./build.sh --stock" \
	"aarch64|./build.sh --target aarch64" "armhf|./build.sh --target armhf" \
	"mipsel|./build.sh --target mipsel"; do
	label=${row%|*} how=${row#*|}
	line=$(grep -F "  $label  " "$T/fp.out" | head -n 1)
	case $line in
	*" statically linked"* | *" dynamically linked"*) ok=1 ;;
	*"not built ($how)") ok=1 ;;
	*) ok=0 ;;
	esac
	# a build that exists must be measured, not called missing
	dir=$(echo "$label" | sed 's/ .*//; s/^stock$/stock/')
	case $line in *"not built"*) [ -x "$TOP/build/$dir/im" ] && ok=0 ;; esac
	[ $ok = 1 ] || { fail footprint_size_rows "no row for $label: $(out)"; break; }
done
[ "$ok" = 1 ] && pass footprint_size_rows

# 2. RSS: before, after, delta, per session, and every session still live
rss_row() { # NAME LABEL
	line=$(grep -F "  $2 " "$T/fp.out" | grep -v SKIP | head -n 1)
	# shellcheck disable=SC2086 # the figures, split on purpose
	set -- "$1" "$2" ${line#*"$2"}
	if [ $# = 7 ] && [ "$7" = "$N" ] && [ "$5" -gt 0 ] 2>/dev/null; then
		pass "$1"
	else
		fail "$1" "row '$(grep -F "  $2 " "$T/fp.out" | head -n 1)' (want 5 figures, $N live): $(out)"
	fi
}
rss_row footprint_rss_im "im (IM)"
rss_row footprint_rss_stock "im stock (IM_STOCK)"
if command -v mosquitto >/dev/null 2>&1 && command -v mosquitto_passwd >/dev/null 2>&1; then
	line=$(grep -E "^  Mosquitto [0-9]" "$T/fp.out")
	# shellcheck disable=SC2086
	set -- $line
	if [ $# = 7 ] && [ "$7" = "$N" ]; then pass footprint_rss_mosquitto; else
		fail footprint_rss_mosquitto "row '$line': $(out)"
	fi
else
	skip footprint_rss_mosquitto "mosquitto is not installed"
fi
if grep -q "im / stock per session:" "$T/fp.out"; then pass footprint_rss_ratio; else
	fail footprint_rss_ratio "no im / stock line: $(out)"
fi

# 3. handshakes: R rounds of HS on each build, every one completed
for x in "A: im (IM)" "B: im stock (IM_STOCK)"; do
	line=$(grep -F "  $x " "$T/fp.out" | head -n 1)
	# shellcheck disable=SC2086
	set -- ${line#*"$x"}
	if [ $# != 5 ] || [ "$1" != $((HS * R)) ]; then
		fail footprint_handshakes "row '$line': $(out)"
		x=""
		break
	fi
done
[ -n "$x" ] && pass footprint_handshakes
line=$(grep -F "per round, A/B server CPU per handshake:" "$T/fp.out")
if [ "$(echo "${line%%;*}" | tr ' ' '\n' | grep -c '^[0-9]*%$')" = "$R" ] && grep -q "project/stock: handshakes/s [0-9]" "$T/fp.out"; then
	pass footprint_handshake_rounds
else
	fail footprint_handshake_rounds "line '$line': $(out)"
fi
