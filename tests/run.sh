#!/bin/sh
# Runs every test: the unit binary, then each tests/t_*.sh against the real
# binary ($IM, default ./im). Tests print "PASS name" or "FAIL name: why";
# the last line here is "N passed, N failed".
cd "$(dirname "$0")/.."
IM=${IM:-$PWD/im}
export IM
export TOP=$PWD
rm -rf tests/tmp
mkdir -p tests/tmp
out=tests/tmp/results.txt
: >"$out"
run() {
	name=$1
	shift
	log="tests/tmp/$name.log"
	"$@" >"$log" 2>&1
	rc=$?
	grep -E '^(PASS|FAIL) ' "$log" >>"$out"
	if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$log"; then
		echo "FAIL $name: exited $rc without reporting (see $log)" >>"$out"
	fi
	grep -E '^FAIL ' "$log" | sed 's/^/  /'
	echo "$(grep -c '^PASS ' "$log") passed, $(grep -c '^FAIL ' "$log") failed in $name"
}
run unit build/tests/unit
for t in tests/t_*.sh; do
	[ -f "$t" ] || continue
	run "$(basename "$t" .sh)" sh "$t"
done
p=$(grep -c '^PASS ' "$out")
f=$(grep -c '^FAIL ' "$out")
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
