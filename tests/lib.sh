# lib.sh: shared helpers for the integration tests (sourced). Each test
# gets its own temp dir $T; results are "PASS name", "FAIL name: why" and
# "SKIP name: why" (a check that could not run here, counted apart).
set -u
IM=${IM:-$(cd "$(dirname "$0")/.." && pwd)/im}
TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
mkdir -p "$TOP/tests/tmp"
T=$(mktemp -d "$TOP/tests/tmp/$(basename "$0" .sh).XXXXXX")
PIDS=""
# Every process a test starts (server, clients, admin modes, under script(1)
# too) writes a sanitizer report of an ASan/UBSan build here, one file per
# process, so no report can hide in a log nobody checks.
SAN=$T/san
mkdir -p "$SAN"
chmod 1777 "$SAN" # a server that dropped root (user =) reports here too
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SAN/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$SAN/ubsan"
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	san_reports "$(basename "$0" .sh)_sanitizer_reports" || :
}
trap cleanup EXIT

# EMFILE_TEXT: strerror(EMFILE) as an extended regex, for any libc im links
# (glibc: "Too many open files", musl: "No file descriptors available").
EMFILE_TEXT='(Too many open files|No file descriptors available)'

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

# SAN_RE: what makes a sanitizer log a report. (LeakSanitizer's exit-time
# scan of a process that a test SIGKILLs mid-scan only leaves "Unable to
# get registers", which is not one.)
SAN_RE='ERROR: [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer'

# san_reports NAME: a FAIL naming each sanitizer report written so far (and
# not reported yet); nothing when there is none. Returns 1 if there was one.
san_reports() {
	_sr=0
	for f in "$SAN"/*; do
		case $f in *.reported) continue ;; esac
		[ -f "$f" ] && grep -Eq "$SAN_RE" "$f" || continue
		fail "$1" "sanitizer report $f: $(grep -m 1 -E "$SAN_RE" "$f" | head -c 200)"
		mv "$f" "$f.reported"
		_sr=1
	done
	return $_sr
}

# setup NAME CMD...: a set-up step. When CMD fails that is "FAIL
# setup_NAME" (never a silent skip of what depends on it) and returns 1.
setup() {
	_su=$1
	shift
	"$@" && return 0
	fail "setup_$_su" "set-up did not happen: $*"
	return 1
}

# need NAME CMD...: a set-up the rest of the script cannot do without: on
# failure "FAIL setup_NAME" and the script ends.
need() {
	setup "$@" || exit 1
}

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

# mark FILE...: remembers how many lines each FILE has now, so wait_new
# and new_lines look only at what comes after (what an action caused, not
# an older line that happens to match). Mark before the action.
mark() {
	for _mf in "$@"; do
		_mn=0
		[ -f "$_mf" ] && _mn=$(wc -l <"$_mf" | tr -d ' ')
		eval "MARK_$(printf '%s' "$_mf" | tr -c 'A-Za-z0-9_' _)=$_mn"
	done
}

# new_lines FILE: the lines of FILE after its mark (all of them unmarked).
new_lines() {
	eval "_mn=\${MARK_$(printf '%s' "$1" | tr -c 'A-Za-z0-9_' _):-0}"
	tail -n "+$((_mn + 1))" "$1" 2>/dev/null
}

# wait_new FILE PATTERN [SECONDS]: waits until a line after FILE's mark
# matches PATTERN (default 10 s).
wait_new() {
	_wi=0
	_wl=$((${3:-10} * 20))
	while [ $_wi -lt $_wl ]; do
		new_lines "$1" | grep -Eq -- "$2" && return 0
		sleep 0.05
		_wi=$((_wi + 1))
	done
	return 1
}

# no_crash NAME FILE...: fails if a log holds a sanitizer or crash marker,
# or any process of this test wrote a sanitizer report.
no_crash() {
	name=$1
	shift
	if grep -El 'AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer|Segmentation fault|core dumped' "$@" >/dev/null 2>&1; then
		fail "$name" "crash marker in $(grep -El 'Sanitizer|runtime error|Segmentation|core dumped' "$@" | tr '\n' ' ')"
	elif san_reports "$name"; then
		pass "$name"
	fi
}
