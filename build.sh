#!/bin/sh
# build.sh: build the static ./im, run the tests, install.
#   ./build.sh deps     install what the build and the tests need (apt-get, as
#                       root; the only command that installs anything)
#   ./build.sh          build ./im: x86-64, musl-static, with mbedTLS built
#                       from Debian's source package and config/mbedtls.h
#   ./build.sh --stock  build ./im the old way: glibc-static, Debian's
#                       libmbedtls-dev as it is (the fallback)
#   ./build.sh --target T  build build/T/im for T = aarch64, armhf, mipsel
#                       (musl built from Debian's source, Debian's cross gcc)
#   ./build.sh test     build, then run every test on ./im, the integration
#                       tests again on the ASan+UBSan build, and each fuzz
#                       target FUZZ_SECONDS (default 10) over its committed
#                       regression inputs; then build each --target and run
#                       its unit and smoke tests under qemu-user, and the
#                       smoke test of --stock (build/stock/im; ./im stays);
#                       last line "N passed, N failed, N skipped"
#   ./build.sh test --target T  build build/T/im, run its unit tests, the
#                       integration suite (aarch64 only, or CROSS_SUITE=1)
#                       and the smoke test under qemu-user; names read T/...
#   ./build.sh bench [PART]  build, then print the benchmark figures (PART:
#                       server, client, storm, footprint or cluster;
#                       default all)
#   ./build.sh asan     build with ASan+UBSan (clang) and run the tests on it
#   ./build.sh fuzz [S] build the libFuzzer targets and run each S seconds (default 20)
#   ./build.sh install  build an installed flavour of im and install it, its
#                       links, man pages, sample config and service files
#                       (DESTDIR, PREFIX=/usr/local, SYSCONFDIR, LOCALSTATEDIR,
#                       BINDIR, MANDIR, DOCDIR, SYSTEMDUNITDIR, INITDIR,
#                       INIT=sysv|procd|none: from the environment or as
#                       VAR=value arguments after the command)
#   ./build.sh uninstall  remove what install put there (not the config, not
#                       the data)
#   ./build.sh clean    remove build outputs (not build/src and build/apt, the
#                       fetched sources: rm -rf build removes those too)
# Knobs: CC (the default build's compiler instead of musl-gcc, or --stock's
# instead of cc), CPPFLAGS, CFLAGS, LDFLAGS (appended to the project's),
# WERROR=0|1 (default 1 in a git checkout or under CI, else 0), STATIC=0
# (dynamic), STRIP=0 (keep symbols), EXTRA_CFLAGS; for --stock also
# MBEDTLS_PREFIX (a tree with include/ and lib/, e.g. an mbedTLS 3.x);
# CLUSTER=no leaves cluster mode (Redis through hiredis) out of the build.
set -eu
cd "$(dirname "$0")"
TOP=$PWD
# The checkout's path goes into compiler flags and scripts: keep it plain.
case $TOP in
*[[:space:]\"\'\\\$\`\;\&\|\<\>\(\)\*\?\[\]\#\!\{\}]*)
	echo "build.sh: the checkout's path '$TOP' has characters build.sh does not quote; move it" >&2
	exit 2
	;;
esac

# Options anywhere: --stock, --target T (`./build.sh --target aarch64 test`
# = `./build.sh test --target aarch64`); VAR=value (make style) sets VAR
# before anything reads it; the rest is the command and its argument.
TARGETS="aarch64 armhf mipsel"
FLAVOUR=musl-x86_64
ARGS=""
while [ $# -gt 0 ]; do
	case $1 in
	--stock) FLAVOUR=stock ;;
	--target)
		[ $# -ge 2 ] || { echo "build.sh: --target needs one of: $TARGETS" >&2; exit 2; }
		case " $TARGETS " in
		*" $2 "*) FLAVOUR=$2 ;;
		*) echo "build.sh: unknown target '$2' (known: $TARGETS)" >&2; exit 2 ;;
		esac
		shift
		;;
	--*) echo "build.sh: unknown option $1" >&2; exit 2 ;;
	[A-Z]*=*)
		case ${1%%=*} in
		*[!A-Z0-9_]*) echo "build.sh: bad setting '$1'" >&2; exit 2 ;;
		esac
		export "$1"
		;;
	*" "* | "") echo "build.sh: bad argument '$1'" >&2; exit 2 ;;
	*) ARGS="$ARGS $1" ;;
	esac
	shift
done
# shellcheck disable=SC2086 # words without spaces, checked above
set -- $ARGS

JOBS=$(nproc 2>/dev/null || echo 2)
# Warnings are errors for the people who change the code (a git checkout)
# and in CI, not for a packager building a release with another compiler.
if [ -z "${WERROR:-}" ]; then
	if [ -e .git ] || [ -n "${CI:-}" ]; then WERROR=1; else WERROR=0; fi
fi
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
-Wpointer-arith -Wformat=2 -Wvla -Wcast-qual -Wno-unused-parameter"
[ "$WERROR" = 1 ] && WARN="$WARN -Werror"
BASE_CFLAGS="-std=c11 -D_GNU_SOURCE $WARN"
# what the person building adds, after the project's own flags
USER_CFLAGS="${CPPFLAGS:-} ${CFLAGS:-} ${EXTRA_CFLAGS:-}"
LINK_FLAGS="-Wl,--gc-sections"
[ "${STATIC:-1}" = 0 ] || LINK_FLAGS="-static $LINK_FLAGS"
[ "${STRIP:-1}" = 0 ] || LINK_FLAGS="$LINK_FLAGS -s"
LINK_FLAGS="$LINK_FLAGS ${LDFLAGS:-}"
STOCK_LIBS="-lmbedtls -lmbedx509 -lmbedcrypto -lpthread"
# Cluster mode links hiredis: built from Debian's source for the musl
# flavours (build_hiredis), Debian's libhiredis-dev for --stock, the test
# programs and the sanitizer builds. CLUSTER=no builds im without it (no
# Redis code at all; a [cluster] redis setting is then refused).
CLUSTER=${CLUSTER:-yes}
case $CLUSTER in
yes) DEB_CLUSTER="-DIM_CLUSTER" DEB_CLUSTER_LIBS="-lhiredis" ;;
no) DEB_CLUSTER="" DEB_CLUSTER_LIBS="" ;;
*) echo "build.sh: CLUSTER must be yes or no, not '$CLUSTER'" >&2; exit 2 ;;
esac

[ "$(uname -m)" = x86_64 ] || [ "$FLAVOUR" = stock ] || [ "$FLAVOUR" != musl-x86_64 ] || {
	echo "build.sh: this machine is $(uname -m): the default build is for x86_64; use --stock" >&2
	exit 2
}

# cross_triplet T: Debian's GNU triplet of a target.
cross_triplet() {
	case $1 in
	aarch64) echo aarch64-linux-gnu ;;
	armhf) echo arm-linux-gnueabihf ;;
	mipsel) echo mipsel-linux-gnu ;;
	esac
}

# pkg_missing PACKAGE TEST...: prints PACKAGE when the test command fails.
pkg_missing() {
	local pkg=$1
	shift
	"$@" >/dev/null 2>&1 || printf ' %s' "$pkg"
}

# build_pkgs FLAVOUR: Debian packages the build of FLAVOUR needs and lacks.
build_pkgs() {
	case $1 in
	stock)
		[ -n "${CC:-}" ] || pkg_missing gcc command -v cc
		[ -n "${MBEDTLS_PREFIX:-}" ] || pkg_missing libmbedtls-dev test -f /usr/include/mbedtls/ssl.h
		[ "$CLUSTER" = no ] || pkg_missing libhiredis-dev test -f /usr/include/hiredis/async.h
		return
		;;
	musl-x86_64)
		[ -n "${CC:-}" ] || pkg_missing musl-tools command -v musl-gcc
		pkg_missing gcc command -v x86_64-linux-gnu-gcc
		;;
	*)
		pkg_missing "gcc-$(cross_triplet "$1")" command -v "$(cross_triplet "$1")-gcc"
		pkg_missing make command -v make # musl's own build
		;;
	esac
	# Debian's source packages: fetched with apt-get, unpacked and patched
	pkg_missing apt command -v apt-get
	pkg_missing patch command -v patch
	pkg_missing xz-utils command -v xz
}

# test_pkgs: what ./build.sh test needs besides the default build: the test
# programs (Debian's mbedTLS), the sanitizers and fuzzers (clang and its
# runtimes, Debian's inih for the differential INI fuzzer), openssl, the
# cross compilers and qemu for the boards' smoke tests, groff and man for
# the man pages' render check, and the tools some tests drive (iproute2
# and nftables: the simulated NATs of tests/t_nat.sh; tmux: t_tui drives
# the terminal client in it).
test_pkgs() {
	core_test_pkgs
	pkg_missing groff-base command -v groff
	pkg_missing man-db command -v man
	pkg_missing qemu-user command -v qemu-aarch64
	pkg_missing busybox command -v busybox        # the init scripts under BusyBox
	pkg_missing strace command -v strace          # races made certain, syscalls seen
	pkg_missing binutils command -v readelf       # what the linker was given
	pkg_missing mosquitto command -v mosquitto    # the footprint benchmark's yardstick
	pkg_missing tmux command -v tmux              # t_tui: the terminal client in a real terminal
	# t_nat's simulated internet: namespaces and veths, the NAT routers
	# (in /usr/sbin, which a user's PATH may lack)
	pkg_missing iproute2 sh -c 'command -v ip || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ]'
	pkg_missing nftables sh -c 'command -v nft || [ -x /usr/sbin/nft ]'
	for t in $TARGETS; do build_pkgs "$t"; done
}

# core_test_pkgs: what the test programs, the sanitizer build, the fuzzers
# and the benchmarks cannot do without.
core_test_pkgs() {
	pkg_missing gcc command -v cc
	pkg_missing libmbedtls-dev test -f /usr/include/mbedtls/ssl.h
	pkg_missing libinih-dev test -f /usr/include/ini.h
	# cluster mode: the test programs and sanitizer builds link Debian's
	# hiredis; the cluster tests start a private redis-server (and skip
	# without one)
	pkg_missing libhiredis-dev test -f /usr/include/hiredis/async.h
	pkg_missing redis-server command -v redis-server
	pkg_missing redis-tools command -v redis-cli
	pkg_missing clang command -v clang
	[ "$(uname -m)" != x86_64 ] ||
		pkg_missing libclang-rt-14-dev sh -c 'ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a'
	pkg_missing openssl command -v openssl
	pkg_missing file command -v file
}

# need_deps PACKAGES: stops with what is missing and how to get it.
need_deps() {
	[ -z "$1" ] && return 0
	echo "build.sh: missing Debian packages:$1" >&2
	echo "build.sh: './build.sh deps' installs them (as root); or: apt-get install$1" >&2
	exit 1
}

# deps: installs what build_pkgs and test_pkgs name (the only place that
# runs apt-get); says what it installs.
deps() {
	local missing
	missing=$( (build_pkgs musl-x86_64; build_pkgs stock; test_pkgs) | tr ' ' '\n' | sort -u | tr '\n' ' ')
	missing=$(echo $missing)
	if [ -z "$missing" ]; then
		echo "build.sh deps: everything is installed"
		return 0
	fi
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "build.sh deps: missing: $missing" >&2
		echo "build.sh deps: run as root on Debian, or install them: apt-get install $missing" >&2
		exit 1
	fi
	echo "build.sh deps: installing: $missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
	echo "build.sh deps: done"
}

# qemu_arch T: the qemu-user program's suffix for a target.
qemu_arch() {
	case $1 in
	aarch64) echo aarch64 ;;
	armhf) echo arm ;;
	mipsel) echo mipsel ;;
	esac
}

# compile CC OUTDIR "CFLAGS" FILES...: objects into OUTDIR, one job per core.
compile() {
	local cc=$1 out=$2 flags=$3
	shift 3
	mkdir -p "$out"
	printf '%s\n' "$@" | xargs -P "$JOBS" -I{} sh -c \
		'f={}; o="$0/$(echo "$f" | tr / _).o"; '"$cc"' $1 -c "$f" -o "$o"' "$out" "$flags"
}

SRC_MODULES=$(ls modules/*.c)

# objs DIR FILES...: the object names compile() gives FILES in DIR (only
# these are linked, never a stale object of a removed source).
objs() {
	d=$1
	shift
	for f in "$@"; do printf '%s/%s.o ' "$d" "$(echo "$f" | tr / _)"; done
}

# ---- Debian source packages, fetched through a private apt set-up ----
# The machine's own package entries (deb822 .sources and one-line .list)
# are copied as deb-src entries into build/apt; apt-get runs with that
# directory as its whole configuration of sources, lists and cache, so
# nothing of the system's apt set-up changes.
APT_DIR=$TOP/build/apt
apt_private() {
	apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APT_DIR/sources" \
		-o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$APT_DIR/sources" \
		-o APT::Sandbox::User="$(id -un)" "$@"
}
apt_private_update() {
	[ -n "$(ls "$APT_DIR"/lists/*_Sources* 2>/dev/null)" ] && return 0
	command -v apt-get >/dev/null 2>&1 || {
		echo "build.sh: apt-get not found: Debian's source packages cannot be fetched here; use --stock" >&2
		exit 1
	}
	mkdir -p "$APT_DIR/sources" "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	rm -f "$APT_DIR"/sources/*
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		sed 's/^Types:.*\bdeb\b.*/Types: deb-src/' "$f" >"$APT_DIR/sources/$(basename "$f")"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >>"$APT_DIR/sources/from-list.list"
	done
	# an entry without sources (a third-party repository) only warns
	apt_private update >"$APT_DIR/update.log" 2>&1 || true
	[ -n "$(ls "$APT_DIR"/lists/*_Sources* 2>/dev/null)" ] || {
		echo "build.sh: no Debian source index could be fetched (see $APT_DIR/update.log)" >&2
		tail -n 5 "$APT_DIR/update.log" >&2
		exit 1
	}
}

# fetch_source PKG: Debian's source package PKG (the version the machine's
# package entries offer) unpacked under build/src, its files checked against
# the SHA-256 sums of the .dsc (which apt checked against the signed index);
# Debian's patches applied. Prints the source tree's path.
fetch_source() {
	local pkg=$1 dl dsc sums ver tree top f p
	if [ -f "build/src/$pkg.tree" ] && [ -d "$(cat "build/src/$pkg.tree")" ]; then
		cat "build/src/$pkg.tree"
		return 0
	fi
	apt_private_update
	dl=build/src/dl-$pkg
	rm -rf "$dl" && mkdir -p "$dl"
	(cd "$dl" && apt_private source --download-only "$pkg") >"$dl.log" 2>&1 || {
		echo "build.sh: cannot fetch Debian's source of $pkg:" >&2
		grep -E '^(E|W):' "$dl.log" >&2 || tail -n 5 "$dl.log" >&2
		exit 1
	}
	dsc=$(ls "$dl"/*.dsc)
	sums=$(sed -n '/^Checksums-Sha256:/,/^[^ ]/s/^ \([0-9a-f]\{64\}\) [0-9]* \(.*\)/\1  \2/p' "$dsc")
	[ -n "$sums" ] || { echo "build.sh: $dsc lists no SHA-256 sums" >&2; exit 1; }
	(cd "$dl" && echo "$sums" | sha256sum -c --quiet -) >&2 || {
		echo "build.sh: Debian's source of $pkg does not match its .dsc: not used" >&2
		exit 1
	}
	ver=$(sed -n 's/^Version: //p' "$dsc")
	tree=build/src/$pkg-$ver
	rm -rf "$tree" "$tree.tmp" && mkdir -p "$tree.tmp"
	for f in $(echo "$sums" | awk '{print $2}'); do
		case $f in
		*.asc) ;;
		*.tar.*) tar -C "$tree.tmp" -xf "$dl/$f" ;;
		esac
	done
	top=$(ls -d "$tree.tmp"/*/ | grep -v '/debian/$' | head -n 1)
	mv "$top" "$tree"
	if [ -f "$tree.tmp/debian/patches/series" ]; then
		grep -v '^[[:space:]]*\(#\|$\)' "$tree.tmp/debian/patches/series" | while read -r p _; do
			patch -s -d "$tree" -p1 <"$tree.tmp/debian/patches/$p"
		done
	fi
	rm -rf "$tree.tmp"
	echo "$tree" >"build/src/$pkg.tree"
	echo "build.sh: Debian's $pkg $ver, checked against $(basename "$dsc")" >&2
	echo "$tree"
}

# ---- the libraries im links, per flavour ----
# build_mbedtls CC AR OUTDIR "CFLAGS": Debian's mbedTLS source compiled with
# config/mbedtls.h into OUTDIR/libmbedtls.a (rebuilt when the config or
# the flags change). The arithmetic that a handshake spends its time in is
# compiled for speed, the rest for size.
MBEDTLS_DEFS="-DMBEDTLS_CONFIG_FILE=\"$TOP/config/mbedtls.h\""
# C without exceptions needs no unwind tables (.eh_frame was 45 KB of the
# static binary); sanitizer builds keep theirs for their stack traces.
NO_UNWIND="-fno-asynchronous-unwind-tables -fno-unwind-tables"
build_mbedtls() {
	local cc=$1 ar=$2 out=$3 flags=$4 src stamp fast f f_fast f_small inc
	src=$(fetch_source mbedtls)
	fast="bignum ecp ecp_curves sha256"
	stamp="$cc $flags $(cksum <config/mbedtls.h) $src -O2: $fast $NO_UNWIND"
	if [ -f "$out/libmbedtls.a" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "-I$TOP/$src/include $MBEDTLS_DEFS"
		return 0
	fi
	rm -rf "$out" && mkdir -p "$out"
	f_fast="" f_small=""
	for f in "$src"/library/*.c; do
		case " $fast " in
		*" $(basename "$f" .c) "*) f_fast="$f_fast $f" ;;
		*) f_small="$f_small $f" ;;
		esac
	done
	inc="-I$src/include $MBEDTLS_DEFS -ffunction-sections -fdata-sections $NO_UNWIND"
	compile "$cc" "$out/obj" "$flags -O2 $inc" $f_fast
	compile "$cc" "$out/obj" "$flags -Os $inc" $f_small
	$ar rcs "$out/libmbedtls.a" "$out"/obj/*.o
	echo "$stamp" >"$out/stamp"
	echo "-I$TOP/$src/include $MBEDTLS_DEFS"
}

# build_hiredis CC AR OUTDIR "CFLAGS": Debian's hiredis source (the files
# the async client needs) compiled into OUTDIR/libhiredis.a, its headers
# under OUTDIR/include/hiredis (as Debian's libhiredis-dev lays them out);
# prints the compiler flags that find them. Cluster mode only.
HIREDIS_FILES="hiredis async net read sds alloc"
build_hiredis() {
	local cc=$1 ar=$2 out=$3 flags=$4 src stamp f
	src=$(fetch_source hiredis)
	stamp="$cc $flags $src $HIREDIS_FILES $NO_UNWIND"
	if [ -f "$out/libhiredis.a" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
		echo "-isystem $TOP/$out/include -DIM_CLUSTER"
		return 0
	fi
	rm -rf "$out" && mkdir -p "$out/include/hiredis" "$out/include/hiredis/adapters"
	cp "$src"/*.h "$out/include/hiredis/"
	for f in $HIREDIS_FILES; do
		# third-party code: its warnings are not ours to fix
		$cc $flags -w -std=gnu99 -Os -ffunction-sections -fdata-sections $NO_UNWIND -I"$src" \
			-c "$src/$f.c" -o "$out/$f.o" || { echo "build.sh: hiredis $f.c does not build" >&2; exit 1; }
	done
	$ar rcs "$out/libhiredis.a" $(for f in $HIREDIS_FILES; do printf '%s/%s.o ' "$out" "$f"; done)
	echo "$stamp" >"$out/stamp"
	echo "-isystem $TOP/$out/include -DIM_CLUSTER"
}

# flavour_cc FLAVOUR: the compiler for a flavour (for a cross target, a
# musl built from Debian's source with Debian's cross gcc).
flavour_cc() {
	case $1 in
	stock) echo "${CC:-cc}" ;;
	musl-x86_64) echo "${CC:-musl-gcc}" ;;
	*) build_musl "$1" ;;
	esac
}

# build_musl T: musl from Debian's source, built with Debian's cross gcc for
# target T into build/cross/T; prints its musl-gcc wrapper.
build_musl() {
	local t=$1 tri out src
	tri=$(cross_triplet "$1")
	out=$TOP/build/cross/$t
	# musl-gcc and its specs name $out by its absolute path: a moved
	# checkout (or a half-done build) builds it again
	if [ ! -x "$out/bin/musl-gcc" ] || ! grep -qF "\"$out/lib/musl-gcc.specs\"" "$out/bin/musl-gcc" ||
		! grep -qF "$out/include" "$out/lib/musl-gcc.specs"; then
		rm -rf "$out"
		src=$(fetch_source musl)
		mkdir -p build/cross && rm -rf "build/cross/$t.src" && cp -a "$src" "build/cross/$t.src"
		(cd "build/cross/$t.src" && ./configure --prefix="$out" --target="$tri" \
			CROSS_COMPILE="$tri-" CC="$tri-gcc" --disable-shared >../$t.log 2>&1 &&
			make -j"$JOBS" >>../$t.log 2>&1 && make install >>../$t.log 2>&1) || {
			echo "build.sh: building musl for $t failed (see build/cross/$t.log)" >&2
			exit 1
		}
		rm -rf "build/cross/$t.src"
	fi
	echo "$out/bin/musl-gcc"
}

# build_flavour FLAVOUR OUT [OBJDIR]: the static im of a flavour at OUT,
# its im-MODE links and its unit test binary beside it.
build_flavour() {
	local fl=$1 out=$2 objdir=${3:-build/$1/obj} cc ar inc libs m
	need_deps "$(build_pkgs "$fl")"
	cc=$(flavour_cc "$fl")
	case $fl in
	stock) ar=ar ;;
	musl-x86_64) ar=ar ;;
	*) ar=$(cross_triplet "$fl")-ar ;;
	esac
	if [ "$fl" = stock ]; then
		inc="" libs=$STOCK_LIBS
		if [ -n "${MBEDTLS_PREFIX:-}" ]; then
			inc="-I$MBEDTLS_PREFIX/include" libs="-L$MBEDTLS_PREFIX/lib $STOCK_LIBS"
		fi
		inc="$inc $DEB_CLUSTER" libs="$libs $DEB_CLUSTER_LIBS"
	else
		inc="-DIM_LIBC_MUSL $(build_mbedtls "$cc" "$ar" "build/$fl/mbedtls" "$USER_CFLAGS")"
		libs="build/$fl/mbedtls/libmbedtls.a"
		if [ "$CLUSTER" = yes ]; then
			inc="$inc $(build_hiredis "$cc" "$ar" "build/$fl/hiredis" "$USER_CFLAGS")"
			libs="$libs build/$fl/hiredis/libhiredis.a"
		fi
	fi
	rm -rf "$objdir"
	compile "$cc" "$objdir" "$BASE_CFLAGS -Os -ffunction-sections -fdata-sections $NO_UNWIND $inc $USER_CFLAGS" main.c $SRC_MODULES
	mkdir -p "$(dirname "$out")"
	$cc $LINK_FLAGS -o "$out" $(objs "$objdir" main.c $SRC_MODULES) $libs \
		2>"$objdir.link.log" || { cat "$objdir.link.log" >&2; exit 1; }
	for m in server client send adduser deluser passwd users who; do
		ln -sf im "$(dirname "$out")/im-$m"
	done
	# the unit tests, on the same objects and library as the binary
	$cc $BASE_CFLAGS -Os $inc $USER_CFLAGS -Imodules $LINK_FLAGS -o "$(dirname "$out")/unit" tests/unit.c \
		$(objs "$objdir" $SRC_MODULES) $libs 2>"$objdir.unit.log" || { cat "$objdir.unit.log" >&2; exit 1; }
}

# build_installed DIR: DIR/im as an installed build (-DIM_INSTALLED, with
# DIR/im_paths.h naming SYSCONFDIR and LOCALSTATEDIR, default DIR/etc and
# DIR/var, which tests/t_paths.sh replaces with its own).
build_installed() {
	local dir
	dir=$(mkdir -p "$1" && cd "$1" && pwd)
	printf '/* written by build.sh: where an installed im looks */\n#define IM_SYSCONFDIR "%s"\n#define IM_LOCALSTATEDIR "%s"\n' \
		"${2:-$dir/etc}" "${3:-$dir/var}" >"$dir/im_paths.h"
	local saved=$BASE_CFLAGS
	BASE_CFLAGS="$BASE_CFLAGS -DIM_INSTALLED -I$dir"
	build_flavour "$FLAVOUR" "$dir/im" "$dir/obj"
	BASE_CFLAGS=$saved
}

# emu_wrapper T: build/T/emu/im, a script that runs build/T/im under
# qemu-user with argv[0] kept (qemu's -0), so that links to it named
# im-MODE dispatch on their name as they do on a board; prints its path.
# (It is named im for the same reason: the binary reads its own name.)
emu_wrapper() {
	local w=$TOP/build/$1/emu/im
	mkdir -p "$(dirname "$w")"
	printf '#!/bin/sh\n# build/%s/im under qemu-user, argv[0] kept (made by build.sh)\nexec qemu-%s -0 "$0" "%s" "$@"\n' \
		"$1" "$(qemu_arch "$1")" "$TOP/build/$1/im" >"$w.tmp"
	chmod +x "$w.tmp" && mv "$w.tmp" "$w"
	echo "$w"
}

# build_im: ./im (and ./im-MODE) of the chosen flavour for this machine;
# a cross target goes to build/T/im only.
build_im() {
	case $FLAVOUR in
	stock | musl-x86_64)
		build_flavour "$FLAVOUR" "build/$FLAVOUR/im"
		cp "build/$FLAVOUR/im" im.tmp && mv im.tmp im
		mkdir -p build/tests && cp "build/$FLAVOUR/unit" build/tests/unit
		for m in server client send adduser deluser passwd users who; do
			ln -sf im "im-$m"
		done
		;;
	*) build_flavour "$FLAVOUR" "build/$FLAVOUR/im" ;;
	esac
}

# build_tools: the test programs, linked against the same modules (with
# Debian's mbedTLS: they only talk to im over sockets; the unit tests are
# built with the binary, by build_flavour).
build_tools() {
	need_deps "$(core_test_pkgs)"
	flags="$BASE_CFLAGS -O1 -g -Imodules $DEB_CLUSTER"
	compile cc build/tobj "$flags" $SRC_MODULES
	mkdir -p build/tests
	for t in tests/*.c tests/bench/*.c; do
		[ -f "$t" ] && [ "$t" != tests/unit.c ] || continue # unit: build_flavour
		name=$(basename "$t" .c)
		cc $flags -o "build/tests/$name" "$t" $(objs build/tobj $SRC_MODULES) $STOCK_LIBS $DEB_CLUSTER_LIBS
	done
}

# build_asan: build/asan/im and build/asan/unit with ASan+UBSan (clang),
# with the project's mbedTLS built the same way, so the sanitizers see the
# configuration that ships.
build_asan() {
	san="-g -fno-omit-frame-pointer -fsanitize=address,undefined"
	inc=$(build_mbedtls clang ar build/asan/mbedtls "$san")
	flags="-std=c11 -D_GNU_SOURCE -O1 $san $inc $DEB_CLUSTER"
	rm -rf build/asan/obj
	compile clang build/asan/obj "$flags" main.c $SRC_MODULES
	mb=build/asan/mbedtls/libmbedtls.a
	clang $flags -o build/asan/im $(objs build/asan/obj main.c $SRC_MODULES) $mb -lpthread $DEB_CLUSTER_LIBS
	clang $flags -Imodules -o build/asan/unit tests/unit.c $(objs build/asan/obj $SRC_MODULES) $mb -lpthread \
		$DEB_CLUSTER_LIBS
}

# build_fuzz: build/fuzz/fuzz_NAME for each tests/fuzz/fuzz_NAME.c (the
# modules compiled once, linked into each).
build_fuzz() {
	flags="-std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -Imodules $DEB_CLUSTER"
	rm -rf build/fuzz/obj build/fuzz/fuzz_*
	mkdir -p build/fuzz
	compile clang build/fuzz/obj "$flags" $SRC_MODULES
	for t in tests/fuzz/fuzz_*.c; do
		# only the differential target runs Debian's inih beside modules/ini.c
		inih=""
		[ "$t" != tests/fuzz/fuzz_ini.c ] || inih=-linih
		clang $flags -fsanitize=fuzzer -o "build/fuzz/$(basename "$t" .c)" "$t" \
			$(objs build/fuzz/obj $SRC_MODULES) $inih $STOCK_LIBS $DEB_CLUSTER_LIBS
	done
}

# ---- install ----
# install_dirs: the install paths, from the environment (or VAR=value
# arguments) with defaults like make's.
install_dirs() {
	PREFIX=${PREFIX:-/usr/local}
	D=${DESTDIR:-}
	BINDIR=${BINDIR:-$PREFIX/bin}
	MANDIR=${MANDIR:-$PREFIX/share/man}
	DOCDIR=${DOCDIR:-$PREFIX/share/doc/im}
	if [ -z "${SYSCONFDIR:-}" ]; then
		if [ "$PREFIX" = /usr ]; then SYSCONFDIR=/etc; else SYSCONFDIR=$PREFIX/etc; fi
	fi
	LOCALSTATEDIR=${LOCALSTATEDIR:-/var}
	SYSTEMDUNITDIR=${SYSTEMDUNITDIR:-$PREFIX/lib/systemd/system}
	INITDIR=${INITDIR:-$SYSCONFDIR/init.d}
	INIT=${INIT:-sysv}
	case $INIT in
	sysv | procd | none) ;;
	*) echo "build.sh: INIT must be sysv, procd or none, not '$INIT'" >&2; exit 2 ;;
	esac
	for v in PREFIX BINDIR MANDIR DOCDIR SYSCONFDIR LOCALSTATEDIR SYSTEMDUNITDIR INITDIR; do
		eval "val=\$$v"
		case $val in
		/*) ;;
		*) echo "build.sh: $v must be an absolute path, not '$val'" >&2; exit 2 ;;
		esac
		# it goes into sed, C strings, unit files and scripts unquoted
		case $val in
		*[!A-Za-z0-9/._+-]*)
			echo "build.sh: $v '$val' has characters other than letters, digits and / . _ + -" >&2
			exit 2
			;;
		esac
	done
}

# subst FILE: FILE with the install paths filled in (service files'
# @BINDIR@ and @SYSCONFDIR@, the man pages' path strings).
subst() {
	sed -e "s#@BINDIR@#$BINDIR#g" -e "s#@SYSCONFDIR@#$SYSCONFDIR#g" \
		-e "s#^\.ds im_sysconfdir .*#.ds im_sysconfdir $SYSCONFDIR#" \
		-e "s#^\.ds im_localstatedir .*#.ds im_localstatedir $LOCALSTATEDIR#" "$1"
}

# put MODE SRC DEST: installs a file (DEST under DESTDIR) and says so.
put() {
	mkdir -p "$(dirname "$D$3")"
	rm -f "$D$3.tmp" # never through a link someone left there
	cp "$2" "$D$3.tmp" && chmod "$1" "$D$3.tmp" && mv "$D$3.tmp" "$D$3"
	echo "  $3"
}

MODES="server client send adduser deluser passwd users who"

do_install() {
	install_dirs
	echo "build.sh install: building an installed im (config $SYSCONFDIR/im.conf, data $LOCALSTATEDIR/lib/im)"
	[ "$LOCALSTATEDIR" = /var ] || echo "build.sh install: note: the systemd unit keeps the data in /var/lib/im (StateDirectory=im); set data_dir = $LOCALSTATEDIR/lib/im in the config or adapt the unit" >&2
	build_installed build/install "$SYSCONFDIR" "$LOCALSTATEDIR"
	echo "build.sh install: into ${D:-/}"
	put 0755 build/install/im "$BINDIR/im"
	for m in $MODES; do
		ln -sf im "$D$BINDIR/im-$m"
		echo "  $BINDIR/im-$m -> im"
	done
	mkdir -p build/install/files
	subst man/im.1 >build/install/files/im.1
	subst man/im.conf.5 >build/install/files/im.conf.5
	put 0644 build/install/files/im.1 "$MANDIR/man1/im.1"
	put 0644 build/install/files/im.conf.5 "$MANDIR/man5/im.conf.5"
	echo '.so man1/im.1' >build/install/files/im-mode.1
	for m in $MODES; do
		put 0644 build/install/files/im-mode.1 "$MANDIR/man1/im-$m.1"
	done
	if [ -e "$D$SYSCONFDIR/im.conf" ]; then
		echo "  $SYSCONFDIR/im.conf exists: kept; the sample goes to $DOCDIR"
	else
		put 0644 config/im.conf "$SYSCONFDIR/im.conf"
	fi
	put 0644 config/im.conf "$DOCDIR/im.conf.sample"
	put 0644 README.md "$DOCDIR/README.md"
	for f in im.service im.init openwrt/im; do
		subst "service/$f" >"build/install/files/$(echo "$f" | tr / -)"
	done
	put 0644 build/install/files/im.service "$SYSTEMDUNITDIR/im.service"
	case $INIT in
	sysv) put 0755 build/install/files/im.init "$INITDIR/im" ;;
	procd) put 0755 build/install/files/openwrt-im "$INITDIR/im" ;;
	esac
	put 0644 build/install/files/im.init "$DOCDIR/service/im.init"
	put 0644 build/install/files/openwrt-im "$DOCDIR/service/openwrt-im"
	echo "build.sh install: done (uninstall: ./build.sh uninstall with the same settings)"
}

# do_uninstall: removes what do_install puts there, never the config or
# the data; an init script only if it is one of ours.
do_uninstall() {
	install_dirs
	local f m
	rm_f() {
		if [ -e "$D$1" ] || [ -L "$D$1" ]; then
			rm -f "$D$1" && echo "  removed $1"
		fi
	}
	# ours_rm PATH PATTERN: removes PATH only if it holds PATTERN (another
	# package's im, im.1 or im.service stays)
	ours_rm() {
		if [ -e "$D$1" ] && ! grep -q "$2" "$D$1" 2>/dev/null; then
			echo "  kept $1: not im's"
		else
			rm_f "$1"
		fi
	}
	ours_rm "$BINDIR/im" "im's own build\|the system's build"
	for m in $MODES; do
		[ -L "$D$BINDIR/im-$m" ] && [ "$(readlink "$D$BINDIR/im-$m")" = im ] && rm_f "$BINDIR/im-$m"
		ours_rm "$MANDIR/man1/im-$m.1" '^\.so man1/im\.1'
	done
	ours_rm "$MANDIR/man1/im.1" '^\.TH IM 1'
	ours_rm "$MANDIR/man5/im.conf.5" '^\.TH IM\.CONF 5'
	ours_rm "$SYSTEMDUNITDIR/im.service" 'im presence server' 
	if [ -f "$D$INITDIR/im" ] && grep -q 'im presence server' "$D$INITDIR/im" 2>/dev/null; then
		rm_f "$INITDIR/im"
	fi
	for f in im.conf.sample README.md service/im.init service/openwrt-im; do
		rm_f "$DOCDIR/$f"
	done
	rmdir "$D$DOCDIR/service" "$D$DOCDIR" 2>/dev/null || :
	[ -e "$D$SYSCONFDIR/im.conf" ] && echo "  kept $SYSCONFDIR/im.conf (the config) and $LOCALSTATEDIR/lib/im (the data)"
	echo "build.sh uninstall: done"
}

# test_target: `./build.sh test --target T`: build/T/im and build/T/unit,
# then under qemu-user (build/T/emu/im as $IM, the test programs native):
# the unit tests and the smoke test, and for aarch64 (or any target with
# CROSS_SUITE=1) every integration test before it. Names read T/...
test_target() {
	local t0 t1 w emu
	t0=$(date +%s)
	build_im
	build_tools
	w=$(emu_wrapper "$FLAVOUR")
	emu=qemu-$(qemu_arch "$FLAVOUR")
	sh tests/run.sh start
	echo "== build/$FLAVOUR/im ($(wc -c <"build/$FLAVOUR/im") bytes) under $emu (built in $(($(date +%s) - t0))s)"
	t1=$(date +%s)
	if [ "$FLAVOUR" = aarch64 ] || [ "${CROSS_SUITE:-0}" = 1 ]; then
		IM=$w IM_EMULATOR=$emu sh tests/run.sh suite "$FLAVOUR"
	else
		IM_EMULATOR=$emu sh tests/run.sh unit "$FLAVOUR"
	fi
	IM=$w IM_EMULATOR=$emu sh tests/run.sh smoke "$FLAVOUR"
	echo "== all done in $(($(date +%s) - t0))s (the tests took $(($(date +%s) - t1))s)"
	exec sh tests/run.sh total
}

CMD=${1:-build}
[ $# -gt 0 ] && shift

case "$CMD" in
deps)
	deps
	;;
build)
	build_im
	case $FLAVOUR in
	stock) echo "built ./im ($(wc -c <im) bytes, glibc-static x86_64, Debian's mbedTLS)" ;;
	musl-x86_64) echo "built ./im ($(wc -c <im) bytes, musl-static x86_64)" ;;
	*)
		emu_wrapper "$FLAVOUR" >/dev/null
		echo "built build/$FLAVOUR/im ($(wc -c <"build/$FLAVOUR/im") bytes, musl-static $FLAVOUR;" \
			"under qemu-user: build/$FLAVOUR/emu/im)"
		;;
	esac
	;;
test)
	need_deps "$(test_pkgs)"
	case $FLAVOUR in
	stock | musl-x86_64) ;;
	*) test_target ;;
	esac
	t0=$(date +%s)
	build_im
	build_tools
	# an installed flavour for tests/t_paths.sh (its own SYSCONFDIR and
	# LOCALSTATEDIR beside it, which the test points at its temp dir)
	build_installed build/installed
	export IM_INSTALLED_BIN=$PWD/build/installed/im
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
	t5=$(date +%s)
	echo "== cross builds: unit and smoke tests of each target under qemu-user, the smoke test of --stock"
	for t in $TARGETS stock; do
		t6=$(date +%s)
		if [ $t = stock ]; then opt=--stock im=$PWD/build/stock/im emu=""; else
			opt="--target $t" im=$PWD/build/$t/emu/im emu=qemu-$(qemu_arch $t); fi
		if sh ./build.sh $opt flavour-build >"tests/tmp/$t-build.log" 2>&1; then
			echo "   build/$t/im: $(wc -c <"build/$t/im") bytes, built in $(($(date +%s) - t6))s"
			[ $t = stock ] || IM_EMULATOR=$emu sh tests/run.sh unit $t
			IM=$im IM_EMULATOR=$emu sh tests/run.sh smoke $t
		else
			sh tests/run.sh fail "${t}_build" "$(tail -n 3 "tests/tmp/$t-build.log" | tr '\n' ' ')"
		fi
	done
	echo "== all done in $(($(date +%s) - t0))s (cross builds and smoke tests took $(($(date +%s) - t5))s)"
	exec sh tests/run.sh total
	;;
flavour-build)
	# build/FLAVOUR/im (and build/FLAVOUR/unit) alone (./im stays as it
	# is); for a target also its qemu wrapper build/T/emu/im
	build_flavour "$FLAVOUR" "build/$FLAVOUR/im"
	case $FLAVOUR in stock | musl-x86_64) ;; *) emu_wrapper "$FLAVOUR" >/dev/null ;; esac
	;;
asan)
	need_deps "$(core_test_pkgs)"
	build_asan
	build_im
	build_tools
	IM=$PWD/build/asan/im exec sh tests/run.sh
	;;
tools)
	# ./im and the test programs (build/tests/*, build/musl-x86_64/unit),
	# for running one test file: sh tests/t_NAME.sh
	build_im
	build_tools
	;;
asan-build)
	need_deps "$(core_test_pkgs)"
	build_asan
	;;
fuzz)
	need_deps "$(core_test_pkgs)"
	build_fuzz
	sh tests/run.sh start
	sh tests/run.sh fuzz "${1:-20}"
	exec sh tests/run.sh total
	;;
fuzz-build)
	need_deps "$(core_test_pkgs)"
	build_fuzz
	;;
bench)
	build_im
	build_tools
	exec sh tests/bench/run.sh "${1:-all}"
	;;
install)
	do_install
	;;
uninstall)
	do_uninstall
	;;
clean)
	# the fetched Debian sources and their apt lists stay (rm -rf build for all)
	[ -d build ] && find build -mindepth 1 -maxdepth 1 ! -name src ! -name apt -exec rm -rf {} +
	rm -f im im-server im-client im-send im-adduser im-deluser im-passwd im-users im-who
	;;
*)
	echo "usage: ./build.sh [--stock | --target aarch64|armhf|mipsel] [deps|build|test|bench [PART]|asan|fuzz [SECONDS]|tools|asan-build|fuzz-build|flavour-build|install|uninstall|clean] [VAR=value...]" >&2
	exit 2
	;;
esac
