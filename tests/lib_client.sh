# lib_client.sh: helpers for the t_client*.sh tests (sourced after lib.sh
# and lib_server.sh). Each client "ID" runs `im client --batch` with its own
# state dir $T/ID, reading commands from the FIFO $T/ID.fifo (held open on a
# shell descriptor) and writing events to $T/ID.out, its log to $T/ID.err.

# cli_conf ID [LINE...]: a [client] section for this test's server.
cli_conf() {
	id=$1
	shift
	{
		printf '[client]\nserver = 127.0.0.1\nserver_port = %s\nstate_dir = %s/%s\n' "$PORT" "$T" "$id"
		printf 'peer_listen = 127.0.0.1\nping_interval = 1\nconnect_timeout = 3\nlog_level = info\n'
		for l in "$@"; do printf '%s\n' "$l"; done
	} >"$T/$id.conf"
}

# cli_start ID FD: starts client ID with commands from descriptor FD (3-9).
cli_start() {
	id=$1 fd=$2
	rm -f "$T/$id.fifo"
	mkfifo "$T/$id.fifo"
	: >"$T/$id.out"
	# Other clients' command descriptors stay out of this one, or their
	# end of input would wait for this client to end too.
	"$IM" client -c "$T/$id.conf" --batch <"$T/$id.fifo" >>"$T/$id.out" 2>>"$T/$id.err" \
		3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	eval "CPID_$id=$!; FD_$id=$fd"
	PIDS="$PIDS $!"
	eval "exec $fd>\"\$T/\$id.fifo\""
}

# tell ID LINE...: sends each LINE to client ID's stdin.
tell() {
	id=$1
	shift
	eval "fd=\$FD_$id"
	for l in "$@"; do printf '%s\n' "$l" >&"$fd"; done
}

# cli_eof ID: closes client ID's stdin (end of input means quit).
cli_eof() {
	eval "fd=\$FD_$1"
	eval "exec $fd>&-"
}

# got ID PATTERN [SECONDS]: waits until client ID printed PATTERN.
got() { wait_for "$T/$1.out" "$2" "${3:-10}"; }

# want NAME ID PATTERN [SECONDS]: passes NAME once ID printed PATTERN.
want() {
	if got "$2" "$3" "${4:-10}"; then pass "$1"; else
		fail "$1" "$2 never printed /$3/; last: $(tail -n 4 "$T/$2.out" | tr '\n' '|')"; fi
}

# got_new ID PATTERN [SECONDS]: like got, but only lines after
# `mark "$T/ID.out"` count.
got_new() { wait_new "$T/$1.out" "$2" "${3:-10}"; }

# want_new NAME ID PATTERN [SECONDS]: like want, after the mark.
want_new() {
	if got_new "$2" "$3" "${4:-10}"; then pass "$1"; else
		fail "$1" "$2 never printed /$3/ after the mark; since: $(new_lines "$T/$2.out" | tail -n 4 | tr '\n' '|')"; fi
}

# cli_wait ID [SECONDS]: waits until client ID's process has ended; 0/1.
cli_wait() {
	eval "p=\$CPID_$1"
	i=0
	lim=$((${2:-10} * 20))
	while alive "$p" && [ $i -lt $lim ]; do
		sleep 0.05
		i=$((i + 1))
	done
	! alive "$p"
}

# peer_port_of ID NAME: the port ID was told NAME listens on.
peer_port_of() {
	sed -n "s/^online $2 [^ ]* \([0-9]*\)\$/\1/p" "$T/$1.out" | tail -n 1
}

# got_n ID PATTERN N [SECONDS]: waits until client ID printed PATTERN at
# least N times.
got_n() {
	i=0
	lim=$((${4:-10} * 20))
	while [ "$(grep -Ec -- "$2" "$T/$1.out")" -lt "$3" ] && [ $i -lt $lim ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(grep -Ec -- "$2" "$T/$1.out")" -ge "$3" ]
}
