#!/bin/sh
# build.sh: install what is missing, build the static ./im, run the tests.
#   ./build.sh          build ./im and its im-MODE links
#   ./build.sh test     build, then run every test on ./im, the integration
#                       tests again on the ASan+UBSan build, and each fuzz
#                       target FUZZ_SECONDS (default 10) over its committed
#                       regression inputs; last line "N passed, N failed, N skipped"
#   ./build.sh bench [PART]  build, then print the benchmark figures (PART:
#                       server, client, storm or footprint; default all)
#   ./build.sh asan     build with ASan+UBSan (clang) and run the tests on it
#   ./build.sh fuzz [S] build the libFuzzer targets and run each S seconds (default 20)
#   ./build.sh clean    remove build outputs
# Knobs: CC (default cc), MBEDTLS_PREFIX and INIH_PREFIX (a tree with
# include/ and lib/, for another mbedTLS or a cross build), EXTRA_CFLAGS.
set -eu
cd "$(dirname "$0")"

CC=${CC:-cc}
JOBS=$(nproc 2>/dev/null || echo 2)
WARN="-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
-Wpointer-arith -Wformat=2 -Wvla -Wcast-qual -Wno-unused-parameter"
BASE_CFLAGS="-std=c11 -D_GNU_SOURCE $WARN ${EXTRA_CFLAGS:-}"
INC=""
LIBDIRS=""
for p in ${MBEDTLS_PREFIX:-} ${INIH_PREFIX:-}; do
	INC="$INC -I$p/include"
	LIBDIRS="$LIBDIRS -L$p/lib"
done
LIBS="-linih -lmbedtls -lmbedx509 -lmbedcrypto -lpthread"

need_pkgs() {
	missing=""
	if [ -z "${MBEDTLS_PREFIX:-}" ]; then
		[ -f /usr/include/mbedtls/ssl.h ] || missing="$missing libmbedtls-dev"
	fi
	if [ -z "${INIH_PREFIX:-}" ]; then
		[ -f /usr/include/ini.h ] || missing="$missing libinih-dev"
	fi
	command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
	command -v "$CC" >/dev/null 2>&1 || missing="$missing gcc"
	command -v clang >/dev/null 2>&1 || missing="$missing clang"
	# the sanitizer and fuzzer runtimes
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		[ "$(uname -m)" != x86_64 ] || missing="$missing libclang-rt-14-dev"
	command -v file >/dev/null 2>&1 || missing="$missing file"
	echo "$missing"
}

install_deps() {
	missing=$(need_pkgs)
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "build.sh: installing:$missing"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	else
		echo "build.sh: missing:$missing" >&2
		echo "build.sh: run as root: apt-get install -y$missing" >&2
		exit 1
	fi
}

# compile OUTDIR "CFLAGS" FILES...: objects into OUTDIR, two jobs per core.
compile() {
	out=$1 flags=$2
	shift 2
	mkdir -p "$out"
	printf '%s\n' "$@" | xargs -P "$JOBS" -I{} sh -c \
		'f={}; o="$0/$(echo "$f" | tr / _).o"; '"$CC"' $1 -c "$f" -o "$o"' "$out" "$flags $INC"
}

SRC_MODULES=$(ls modules/*.c)

# objs DIR FILES...: the object names compile() gives FILES in DIR (only
# these are linked, never a stale object of a removed source).
objs() {
	d=$1
	shift
	for f in "$@"; do printf '%s/%s.o ' "$d" "$(echo "$f" | tr / _)"; done
}

build_im() {
	install_deps
	compile build/obj "$BASE_CFLAGS -Os -ffunction-sections -fdata-sections" main.c $SRC_MODULES
	$CC -static -s -Wl,--gc-sections -o im $(objs build/obj main.c $SRC_MODULES) $LIBDIRS $LIBS 2>build/link.log ||
		{ cat build/link.log >&2; exit 1; }
	for m in server client adduser deluser passwd users who; do
		ln -sf im "im-$m"
	done
}

# build_tools: the test programs, linked against the same modules.
build_tools() {
	flags="$BASE_CFLAGS -O1 -g -Imodules"
	compile build/tobj "$flags" $SRC_MODULES
	mkdir -p build/tests
	for t in tests/*.c tests/bench/*.c; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .c)
		$CC $flags $INC -o "build/tests/$name" "$t" $(objs build/tobj $SRC_MODULES) $LIBDIRS $LIBS
	done
}

# build_asan: build/asan/im and build/asan/unit with ASan+UBSan (clang).
build_asan() {
	flags="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined $INC"
	rm -rf build/asan && mkdir -p build/asan
	CC=clang compile build/asan/obj "$flags" main.c $SRC_MODULES
	clang $flags -o build/asan/im $(objs build/asan/obj main.c $SRC_MODULES) $LIBDIRS $LIBS
	clang $flags -Imodules -o build/asan/unit tests/unit.c $(objs build/asan/obj $SRC_MODULES) $LIBDIRS $LIBS
}

# build_fuzz: build/fuzz/fuzz_NAME for each tests/fuzz/fuzz_NAME.c (the
# modules compiled once, linked into each).
build_fuzz() {
	flags="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Imodules $INC"
	rm -rf build/fuzz/obj build/fuzz/fuzz_*
	mkdir -p build/fuzz
	CC=clang compile build/fuzz/obj "$flags" $SRC_MODULES
	for t in tests/fuzz/fuzz_*.c; do
		clang $flags -fsanitize=fuzzer -o "build/fuzz/$(basename "$t" .c)" "$t" \
			$(objs build/fuzz/obj $SRC_MODULES) $LIBDIRS $LIBS
	done
}

case "${1:-build}" in
build)
	build_im
	echo "built ./im ($(wc -c <im) bytes)"
	;;
test)
	t0=$(date +%s)
	build_im
	build_tools
	sh tests/run.sh start
	echo "== the tests on ./im (built in $(($(date +%s) - t0))s)"
	t1=$(date +%s)
	sh tests/run.sh suite
	# Each later stage is its own process, so a build that fails is
	# counted as a FAIL and the run goes on to its last line.
	t2=$(date +%s)
	echo "== the tests on the ASan+UBSan build (plain suite took $((t2 - t1))s)"
	if sh ./build.sh asan-build >tests/tmp/asan-build.log 2>&1; then
		t3=$(date +%s)
		echo "   (built in $((t3 - t2))s)"
		IM=$PWD/build/asan/im sh tests/run.sh suite asan
	else
		t3=$(date +%s)
		sh tests/run.sh fail asan_build "$(tail -n 3 tests/tmp/asan-build.log | tr '\n' ' ')"
	fi
	t4=$(date +%s)
	echo "== fuzz targets, ${FUZZ_SECONDS:-10}s each (ASan suite took $((t4 - t3))s)"
	if sh ./build.sh fuzz-build >tests/tmp/fuzz-build.log 2>&1; then
		sh tests/run.sh fuzz "${FUZZ_SECONDS:-10}"
	else
		sh tests/run.sh fail fuzz_build "$(tail -n 3 tests/tmp/fuzz-build.log | tr '\n' ' ')"
	fi
	echo "== all done in $(($(date +%s) - t0))s"
	exec sh tests/run.sh total
	;;
asan)
	install_deps
	build_asan
	build_im
	build_tools
	IM=$PWD/build/asan/im exec sh tests/run.sh
	;;
asan-build)
	install_deps
	build_asan
	;;
fuzz)
	install_deps
	build_fuzz
	sh tests/run.sh start
	sh tests/run.sh fuzz "${2:-20}"
	exec sh tests/run.sh total
	;;
fuzz-build)
	install_deps
	build_fuzz
	;;
bench)
	build_im
	build_tools
	exec sh tests/bench/run.sh "${2:-all}"
	;;
clean)
	rm -rf build im im-server im-client im-adduser im-deluser im-passwd im-users im-who
	;;
*)
	echo "usage: ./build.sh [build|test|bench|asan|fuzz [SECONDS]|asan-build|fuzz-build|clean]" >&2
	exit 2
	;;
esac
