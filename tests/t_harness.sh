#!/bin/sh
# t_harness: the test harness itself can fail. wait_new ignores a match
# from before the mark; setup/need turn a set-up that did not happen into a
# FAIL; tests/run.sh counts SKIP apart and fails a script that exits
# non-zero without a FAIL, reports nothing, or hangs; a sanitizer report of
# any process started by a test is a FAIL.
. "$(dirname "$0")/lib.sh"

# --- wait_new: only lines after the mark ---
echo "OFFLINE erin" >"$T/w.out"
mark "$T/w.out"
if wait_new "$T/w.out" '^OFFLINE erin$' 1; then fail harness_wait_new_ignores_old "matched the line before the mark"; else
	pass harness_wait_new_ignores_old; fi
(
	sleep 0.3
	echo "OFFLINE erin" >>"$T/w.out"
) &
if wait_new "$T/w.out" '^OFFLINE erin$' 10 && [ "$(new_lines "$T/w.out" | wc -l)" -eq 1 ]; then
	pass harness_wait_new_sees_new
else
	fail harness_wait_new_sees_new "$(new_lines "$T/w.out" | tr '\n' '|')"
fi
wait

# --- setup and need: a failed set-up is a FAIL ---
setup thing false >"$T/setup.out"
rc=$?
if [ $rc -eq 1 ] && grep -q '^FAIL setup_thing: set-up did not happen: false$' "$T/setup.out"; then
	pass harness_setup_fails_loudly
else
	fail harness_setup_fails_loudly "rc $rc: $(cat "$T/setup.out")"
fi
setup thing true >"$T/setup.out"
if [ $? -eq 0 ] && [ ! -s "$T/setup.out" ]; then pass harness_setup_quiet_when_done; else
	fail harness_setup_quiet_when_done "$(cat "$T/setup.out")"; fi
(need other false && echo "went on") >"$T/need.out"
if grep -q '^FAIL setup_other' "$T/need.out" && ! grep -q 'went on' "$T/need.out"; then pass harness_need_ends_script; else
	fail harness_need_ends_script "$(tr '\n' '|' <"$T/need.out")"; fi

# --- run.sh on a tree of made-up tests ---
H=$T/tree
mkdir -p "$H/tests" "$H/build/tests"
cp "$TOP/tests/run.sh" "$TOP/tests/lib.sh" "$H/tests/"
printf '#!/bin/sh\necho "PASS u"\n' >"$H/build/tests/unit"
chmod +x "$H/build/tests/unit"
lib='. "$(dirname "$0")/lib.sh"'
printf '%s\npass a\nexit 3\n' "$lib" >"$H/tests/t_exit3.sh"
printf 'true\n' >"$H/tests/t_silent.sh"
printf '%s\nskip s "no such thing here"\npass s2\n' "$lib" >"$H/tests/t_skip.sh"
printf '%s\nsleep 60\n' "$lib" >"$H/tests/t_hang.sh"
printf '%s\nneed thing false\npass never\n' "$lib" >"$H/tests/t_need.sh"
(cd "$H" && TEST_TIMEOUT=3 sh tests/run.sh) >"$T/run.out" 2>&1
rc=$?
last=$(tail -n 1 "$T/run.out")
if [ $rc -eq 1 ] && [ "$last" = "3 passed, 4 failed, 1 skipped" ]; then pass harness_run_counts; else
	fail harness_run_counts "exit $rc, last line '$last'"; fi
missing=""
for pat in 'FAIL t_exit3: exited 3 without reporting a FAIL' 'FAIL t_silent: reported no result at all' \
	'FAIL t_hang: still running after 3s' 'FAIL setup_thing' '^  s: no such thing here$'; do
	grep -q "$pat" "$T/run.out" || missing="$missing /$pat/"
done
grep -q 'PASS never' "$H/tests/tmp/results.txt" && missing="$missing (need went on)"
if [ -z "$missing" ]; then pass harness_run_reports; else
	fail harness_run_reports "missing$missing in: $(tr '\n' '|' <"$T/run.out")"; fi
rm -f "$H/tests/t_exit3.sh" "$H/tests/t_silent.sh" "$H/tests/t_hang.sh" "$H/tests/t_need.sh"
(cd "$H" && sh tests/run.sh) >"$T/run2.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(tail -n 1 "$T/run2.out")" = "2 passed, 0 failed, 1 skipped" ]; then pass harness_run_skip_is_no_failure; else
	fail harness_run_skip_is_no_failure "exit $rc: $(tail -n 1 "$T/run2.out")"; fi

# --- a sanitizer report of any process is a FAIL (made by hand here) ---
printf '==42==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n' >"$SAN/asan.42"
printf '==43==Unable to get registers from thread 43.\n' >"$SAN/asan.43"
no_crash harness_probe_no_crash "$T/w.out" >"$T/nc.out"
if grep -q '^FAIL harness_probe_no_crash: sanitizer report .*asan.42: ==42==ERROR: AddressSanitizer' "$T/nc.out" &&
	! grep -q 'asan.43' "$T/nc.out"; then
	pass harness_no_crash_sees_reports
else
	fail harness_no_crash_sees_reports "$(tr '\n' '|' <"$T/nc.out")"
fi
no_crash harness_probe_reported_once "$T/w.out" >"$T/nc2.out"
if grep -q '^PASS harness_probe_reported_once' "$T/nc2.out"; then pass harness_report_counted_once; else
	fail harness_report_counted_once "$(cat "$T/nc2.out")"; fi
