#!/bin/sh
# t_buildflags: build.sh as a packager uses it, on a copy of the source
# tree without .git (as from a release tarball): CFLAGS, LDFLAGS, STATIC=0
# and STRIP=0 reach the binary; warnings are not errors there unless
# WERROR=1; a missing package is named, with ./build.sh deps to get it;
# CLUSTER=no leaves hiredis out.
# The copies use --stock (Debian's mbedTLS, as a distribution would), so
# no mbedTLS source is fetched.
. "$(dirname "$0")/lib.sh"

S=$T/src
mkdir -p "$S"
(cd "$TOP" && tar --exclude=./build --exclude=./tests/tmp --exclude=./.git --exclude='./im' --exclude='./im-*' -cf - .) |
	(cd "$S" && tar -xf -)
need copy_made [ -f "$S/build.sh" ] && [ ! -e "$S/.git" ]

# --- a packager's flags: dynamic, unstripped, -g, BIND_NOW ---
if (cd "$S" && env -u CI STATIC=0 STRIP=0 CFLAGS="-O2 -g" LDFLAGS="-Wl,-z,now" sh build.sh --stock) >"$T/pkg.log" 2>&1; then
	pass packager_build
	f=$(file -L "$S/im")
	case $f in
	*"dynamically linked"*) pass static0_dynamic ;;
	*) fail static0_dynamic "$f" ;;
	esac
	case $f in
	*"with debug_info"*"not stripped"* | *"not stripped"*) pass strip0_symbols_and_cflags_g ;;
	*) fail strip0_symbols_and_cflags_g "$f" ;;
	esac
	if command -v readelf >/dev/null 2>&1; then
		if readelf -d "$S/im" | grep -q 'BIND_NOW'; then pass ldflags_reach_link; else
			fail ldflags_reach_link "no BIND_NOW in the dynamic section"; fi
	else
		skip ldflags_reach_link "readelf (binutils) is not installed"
	fi
	if "$S/im" --version 2>&1 | grep -q '^built with glibc and mbedTLS'; then pass packager_binary_runs; else
		fail packager_binary_runs "$("$S/im" --version 2>&1 | tr '\n' ' ')"; fi
else
	fail packager_build "$(tail -n 5 "$T/pkg.log" | tr '\n' '|')"
fi

# --- CLUSTER=no: no hiredis in the binary, a [cluster] redis refused ---
if (cd "$S" && env -u CI sh build.sh --stock CLUSTER=no STRIP=0) >"$T/nocluster.log" 2>&1; then
	if command -v nm >/dev/null 2>&1 && nm "$S/im" | grep -q 'redisAsyncConnect'; then
		fail cluster_no_build_has_no_hiredis "hiredis symbols in the CLUSTER=no binary"
	else
		pass cluster_no_build_has_no_hiredis
	fi
	printf '[cluster]\nredis = 127.0.0.1:6390\n' >"$T/cl.conf"
	expect_exit cluster_no_build_refuses_redis 2 'this im was built without cluster mode' \
		"$S/im" server -c "$T/cl.conf" -n
	printf '[cluster]\nredis =\nrecord_ttl = 15\n' >"$T/cl0.conf"
	expect_exit cluster_no_build_takes_empty_redis 0 'configuration ok' "$S/im" server -c "$T/cl0.conf" -n
else
	fail cluster_no_build "$(tail -n 5 "$T/nocluster.log" | tr '\n' '|')"
fi

# --- warnings: not errors outside a checkout, errors with WERROR=1 ---
printf '\nstatic int im_buildflags_unused_probe;\n' >>"$S/main.c"
if (cd "$S" && env -u CI sh build.sh --stock) >"$T/warn0.log" 2>&1 && grep -q 'im_buildflags_unused_probe' "$T/warn0.log"; then
	pass warning_not_error_in_release_tree
else
	fail warning_not_error_in_release_tree "$(grep -m 2 -i 'error\|unused' "$T/warn0.log" | tr '\n' '|')"
fi
# (as a make-style argument: it must be read before the flags are made)
if (cd "$S" && env -u CI sh build.sh --stock WERROR=1) >"$T/warn1.log" 2>&1; then
	fail werror_1_stops_on_warning "the build passed with a warning"
elif grep -q 'im_buildflags_unused_probe' "$T/warn1.log"; then
	pass werror_1_stops_on_warning
else
	fail werror_1_stops_on_warning "failed for another reason: $(tail -n 3 "$T/warn1.log" | tr '\n' '|')"
fi

# --- a missing package is named, and deps is the way to get it ---
FB=$T/fakebin
mkdir -p "$FB"
for f in /usr/local/bin/* /usr/bin/* /bin/*; do
	n=$(basename "$f")
	case $n in musl-gcc) continue ;; esac
	[ -e "$FB/$n" ] || ln -s "$f" "$FB/$n" 2>/dev/null
done
if (cd "$S" && env -u CC PATH="$FB" sh build.sh) >"$T/miss.log" 2>&1; then
	fail missing_package_named "the build ran without musl-gcc"
elif grep -q 'missing Debian packages:.*musl-tools' "$T/miss.log" && grep -q "./build.sh deps" "$T/miss.log"; then
	pass missing_package_named
else
	fail missing_package_named "$(tail -n 3 "$T/miss.log" | tr '\n' '|')"
fi
