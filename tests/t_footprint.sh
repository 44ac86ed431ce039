#!/bin/sh
# t_footprint: what the small build must keep doing. The default ./im is
# musl-static with no glibc inside; it resolves a host name from
# /etc/hosts in a chroot that holds nothing but the binary, that file and
# the client's config; openssl s_client still logs in (with and without
# asking for small records), and a client that does not ask for small
# records can still send a full 16 KiB TLS record: its too-long line gets
# ERR 400, not a dropped connection.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_server.sh"

VER=$("$IM" --version 2>&1)
echo "$VER"
case $VER in
*"built with musl and mbedTLS "*"im's own build"*) FLAVOUR=musl ;;
*"built with glibc"*) FLAVOUR=glibc ;;
*) FLAVOUR=other ;;
esac

# --- the binary itself ---
if [ "$IM" = "$TOP/im" ] && [ "${IM_STOCK:-0}" != 1 ]; then
	if [ "$FLAVOUR" = musl ]; then pass footprint_default_is_musl_own_mbedtls; else
		fail footprint_default_is_musl_own_mbedtls "./im --version: $(echo "$VER" | tr '\n' ' ')"; fi
else
	skip footprint_default_is_musl_own_mbedtls "not the default ./im ($IM)"
fi
# the binary itself: under an emulator $IM is build/T/emu/im, a wrapper
# that runs build/T/im
BIN=$IM
if [ -n "${IM_EMULATOR:-}" ] && [ -f "$(dirname "$(dirname "$IM")")/im" ]; then
	BIN=$(dirname "$(dirname "$IM")")/im
fi
STATIC=0
file -L "$BIN" | grep -q 'statically linked' && STATIC=1
if [ "$FLAVOUR" = musl ]; then
	if [ $STATIC = 1 ]; then pass footprint_static; else
		fail footprint_static "$(file -L "$BIN")"; fi
	n=$(strings "$BIN" | grep -c 'GLIBC')
	if [ "$n" -eq 0 ]; then pass footprint_no_glibc_inside; else
		fail footprint_no_glibc_inside "$n strings name GLIBC: $(strings "$BIN" | grep GLIBC | head -n 3 | tr '\n' ' ')"; fi
else
	skip footprint_static "a $FLAVOUR build"
	skip footprint_no_glibc_inside "a $FLAVOUR build"
fi

C=$T/s.conf
srv_conf "$C" "max_line = 1024"
if ! srv_start "$C" "$T/s.log"; then
	fail server_start "no readiness line: $(head -c 300 "$T/s.log" | tr '\n' ' ')"
	exit 1
fi

# --- openssl s_client, as an admin would try the server by hand ---
# s_in NAME FILE [OPTIONS...]: s_client sends FILE (read in one go, so a
# long line is one TLS record) and keeps reading until the server closes.
s_in() {
	n=$1 f=$2
	shift 2
	timeout 20 openssl s_client -connect "127.0.0.1:$PORT" -quiet -ign_eof "$@" <"$f" >"$T/$n.out" 2>"$T/$n.err"
}
if ! command -v openssl >/dev/null 2>&1; then
	skip footprint_s_client "openssl is not installed"
else
	printf 'SIGNUP sam sam-pw1\nPING one\nLOGOUT\n' >"$T/sam.txt"
	s_in sam "$T/sam.txt"
	if grep -q '^IM 1 ' "$T/sam.out" && grep -q '^OK sam$' "$T/sam.out" && grep -q '^PONG one$' "$T/sam.out" &&
		grep -q '^BYE$' "$T/sam.out"; then
		pass footprint_s_client_signup
	else
		fail footprint_s_client_signup "$(tr '\n' '|' <"$T/sam.out") $(tail -n 3 "$T/sam.err" | tr '\n' '|')"
	fi
	printf 'LOGIN sam sam-pw1\nPING two\nLOGOUT\n' >"$T/mfl.txt"
	s_in mfl "$T/mfl.txt" -maxfraglen 512
	if grep -q '^OK sam$' "$T/mfl.out" && grep -q '^PONG two$' "$T/mfl.out"; then
		pass footprint_s_client_maxfraglen_512
	else
		fail footprint_s_client_maxfraglen_512 "$(tr '\n' '|' <"$T/mfl.out") $(tail -n 3 "$T/mfl.err" | tr '\n' '|')"
	fi
	# lines longer than max_line in one record of 5000 and of 16000 bytes
	for len in 5000 16000; do
		head -c "$len" /dev/zero | tr '\0' a >"$T/long$len.txt"
		printf '\n' >>"$T/long$len.txt"
		s_in long$len "$T/long$len.txt"
		if grep -q '^ERR 400 ' "$T/long$len.out"; then pass footprint_s_client_record_$len; else
			fail footprint_s_client_record_$len "no ERR 400: $(head -c 200 "$T/long$len.out" | tr '\n' '|') $(tail -n 2 "$T/long$len.err" | tr '\n' '|')"
		fi
	done
fi

# --- host names from /etc/hosts in an empty chroot ---
R=$T/root
if [ "$(id -u)" != 0 ] || ! command -v chroot >/dev/null 2>&1; then
	skip footprint_chroot_hosts "needs root and chroot(8)"
elif [ $STATIC = 0 ]; then
	skip footprint_chroot_hosts "$IM is not a static binary"
elif [ -n "${IM_EMULATOR:-}" ]; then
	skip footprint_chroot_hosts "under $IM_EMULATOR, which the empty chroot does not hold"
else
	mkdir -p "$R/etc"
	cp "$BIN" "$R/im"
	printf '127.0.0.1 imhost.test\n' >"$R/etc/hosts"
	chroot_client() {
		printf '[client]\nserver = %s\nserver_port = %s\nstate_dir = /state\nconnect_timeout = 5\n' "$1" "$PORT" >"$R/c.conf"
		printf 'signup %s %s-pw1\nwho\nquit\n' "$2" "$2" |
			timeout 30 chroot "$R" /im client -c /c.conf --batch >"$T/$2.chroot.out" 2>"$T/$2.chroot.err"
	}
	chroot_client imhost.test zed
	if grep -q '^ready zed$' "$T/zed.chroot.out" && grep -q 'signup zed\|login zed\|new user zed' "$T/s.log"; then
		pass footprint_chroot_hosts
	else
		fail footprint_chroot_hosts "$(tr '\n' '|' <"$T/zed.chroot.out") $(tail -n 3 "$T/zed.chroot.err" | tr '\n' '|')"
	fi
	# a name that is not there: a clear error naming it, no login
	chroot_client nohost.test ned
	if ! grep -q '^ready ned$' "$T/ned.chroot.out" && grep -q 'nohost.test' "$T/ned.chroot.err" "$T/ned.chroot.out"; then
		pass footprint_chroot_unknown_host
	else
		fail footprint_chroot_unknown_host "$(tr '\n' '|' <"$T/ned.chroot.out") $(tail -n 3 "$T/ned.chroot.err" | tr '\n' '|')"
	fi
fi

srv_stop footprint_server_stops
