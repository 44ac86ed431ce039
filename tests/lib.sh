# lib.sh: shared helpers for the integration tests (sourced). Each test
# gets its own temp dir $T; results are "PASS name" / "FAIL name: why".
set -u
IM=${IM:-$(cd "$(dirname "$0")/.." && pwd)/im}
TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
T=$(mktemp -d "$TOP/tests/tmp/$(basename "$0" .sh).XXXXXX")
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# check NAME CMD...: passes when CMD exits 0.
check() {
	name=$1
	shift
	if "$@" >"$T/check.out" 2>&1; then pass "$name"; else fail "$name" "$(head -c 300 "$T/check.out" | tr '\n' ' ')"; fi
}

# expect_exit NAME CODE PATTERN CMD...: CMD exits CODE and its stderr+stdout
# matches the extended regex PATTERN.
expect_exit() {
	name=$1 code=$2 pat=$3
	shift 3
	"$@" >"$T/ee.out" 2>&1
	rc=$?
	if [ "$rc" -ne "$code" ]; then
		fail "$name" "exit $rc, wanted $code: $(head -c 300 "$T/ee.out" | tr '\n' ' ')"
	elif ! grep -Eq -- "$pat" "$T/ee.out"; then
		fail "$name" "output lacks /$pat/: $(head -c 300 "$T/ee.out" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}

# wait_for FILE PATTERN [SECONDS]: waits until FILE holds PATTERN.
wait_for() {
	i=0
	lim=$((${3:-10} * 20))
	while [ $i -lt $lim ]; do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# no_crash NAME FILE...: fails if a log holds a sanitizer or crash marker.
no_crash() {
	name=$1
	shift
	if grep -El 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer|Segmentation fault|core dumped' "$@" >/dev/null 2>&1; then
		fail "$name" "crash marker in $(grep -El 'Sanitizer|runtime error' "$@" | tr '\n' ' ')"
	else
		pass "$name"
	fi
}
