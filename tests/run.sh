#!/bin/sh
# Runs the tests and counts their results. Tests print "PASS name",
# "FAIL name: why" or "SKIP name: why" (could not run here: counted and
# shown, neither passed nor failed). A script that exits non-zero without a
# FAIL, reports nothing at all, or runs past TEST_TIMEOUT is a FAIL.
#   tests/run.sh              start + suite + total (the unit binary, then
#                             each tests/t_*.sh against $IM, default ./im)
#   tests/run.sh start        empty tests/tmp and the results
#   tests/run.sh suite [TAG]  the unit binary (without TAG) and every
#                             t_*.sh; with TAG, names read TAG/name
#   tests/run.sh unit TAG     build/TAG/unit alone (under $IM_EMULATOR, a
#                             cross target's qemu-user, when set)
#   tests/run.sh smoke [TAG]  tests/smoke.sh against $IM
#   tests/run.sh fuzz SECS    each build/fuzz/fuzz_* over its committed
#                             regression inputs, then SECS of fuzzing
#   tests/run.sh fail NAME WHY  records a FAIL (a build step that failed)
#   tests/run.sh total        the last line "N passed, N failed, N skipped";
#                             exit 1 when anything failed or nothing ran
cd "$(dirname "$0")/.."
IM=${IM:-$PWD/im}
export IM
export TOP=$PWD
out=tests/tmp/results.txt
TEST_TIMEOUT=${TEST_TIMEOUT:-900}

# run NAME TAG CMD...: runs CMD with its output in a log, adds its results
# (names prefixed "TAG/" when TAG is set) and prints a summary of it.
run() {
	name=$1 tag=$2
	shift 2
	log="tests/tmp/${tag:+$tag-}$name.log"
	timeout -k 10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL $name: still running after ${TEST_TIMEOUT}s, killed (see $log)" >>"$log"
	elif [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		echo "FAIL $name: exited $rc without reporting a FAIL (see $log)" >>"$log"
	elif ! grep -Eq '^(PASS|FAIL|SKIP) ' "$log"; then
		echo "FAIL $name: reported no result at all (see $log)" >>"$log"
	fi
	# a sanitizer report on the test's own output (the unit binary's)
	if grep -Eq '^(==[0-9]+==ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer)|runtime error:' "$log"; then
		echo "FAIL $name: sanitizer report in $log" >>"$log"
	fi
	grep -E '^(PASS|FAIL|SKIP) ' "$log" | sed -E "s#^(PASS|FAIL|SKIP) #\\1 ${tag:+$tag/}#" >>"$out"
	grep -E '^(FAIL|SKIP) ' "$log" | sed 's/^/  /'
	echo "$(grep -c '^PASS ' "$log") passed, $(grep -c '^FAIL ' "$log") failed, $(grep -c '^SKIP ' "$log") skipped in ${tag:+$tag/}$name"
}

start() {
	rm -rf tests/tmp
	mkdir -p tests/tmp
	: >"$out"
}

suite() {
	tag=${1:-}
	if [ -z "$tag" ]; then
		run unit "" build/tests/unit
	elif [ -x "build/$tag/unit" ]; then
		run unit "$tag" ${IM_EMULATOR:-} "build/$tag/unit"
	fi
	for t in tests/t_*.sh; do
		[ -f "$t" ] || continue
		run "$(basename "$t" .sh)" "$tag" sh "$t"
	done
}

# fuzz SECS: every committed input of tests/fuzz/corpus/NAME is run first
# (regressions), then libFuzzer mutates for SECS seconds into a scratch
# corpus. A crash, leak, timeout or sanitizer report is a FAIL that names
# the input it saved.
fuzz() {
	secs=$1
	for bin in build/fuzz/fuzz_*; do
		[ -x "$bin" ] || continue
		name=$(basename "$bin")
		work=build/fuzz/work-$name art=build/fuzz/artifacts-$name/
		seeds=tests/fuzz/corpus/$name
		rm -rf "$art"
		mkdir -p "$work" "$art" "$seeds"
		log=tests/tmp/$name.log
		timeout -k 10 $((secs * 3 + 120)) "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
			-print_final_stats=1 -artifact_prefix="$art" "$work" "$seeds" >"$log" 2>&1 </dev/null
		rc=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		nseeds=$(ls "$seeds" | wc -l)
		found=$(ls "$art" 2>/dev/null | head -n 1)
		if [ $rc -eq 0 ] && [ -z "$found" ] && [ -n "$runs" ]; then
			echo "PASS $name ($nseeds regression inputs, $runs runs in ${secs}s)" >>"$out"
			echo "1 passed, 0 failed, 0 skipped in $name ($runs runs)"
		else
			why="exit $rc; $(grep -m 1 -E 'ERROR|SUMMARY|runtime error' "$log" | head -c 200)"
			[ -n "$found" ] && why="$why; input saved as $art$found (after the fix, add it to $seeds/)"
			echo "FAIL $name: $why (see $log)" >>"$out"
			echo "  FAIL $name: $why"
			echo "0 passed, 1 failed, 0 skipped in $name"
		fi
	done
}

total() {
	p=$(grep -c '^PASS ' "$out" 2>/dev/null)
	f=$(grep -c '^FAIL ' "$out" 2>/dev/null)
	s=$(grep -c '^SKIP ' "$out" 2>/dev/null)
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=0
	[ -n "$s" ] || s=0
	if [ "$s" -gt 0 ]; then
		echo "skipped:"
		grep '^SKIP ' "$out" | sed 's/^SKIP /  /'
	fi
	echo "$p passed, $f failed, $s skipped"
	[ "$f" -eq 0 ] && [ "$p" -gt 0 ]
}

case "${1:-all}" in
all)
	start
	suite
	total
	;;
start) start ;;
suite) suite "${2:-}" ;;
unit) run unit "$2" ${IM_EMULATOR:-} "build/$2/unit" ;;
smoke) run smoke "${2:-}" sh tests/smoke.sh ;;
fuzz) fuzz "${2:-10}" ;;
fail)
	echo "FAIL $2: $3" >>"$out"
	echo "  FAIL $2: $3"
	;;
total) total ;;
*)
	echo "usage: tests/run.sh [start|suite [TAG]|unit TAG|smoke [TAG]|fuzz SECS|fail NAME WHY|total]" >&2
	exit 2
	;;
esac
