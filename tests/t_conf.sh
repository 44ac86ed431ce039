#!/bin/sh
# t_conf: reading the config file (modules/ini.c, inih's rules) through the
# real $IM: what users see for odd files, and that nothing changed.
. "$(dirname "$0")/lib.sh"

# A directory given as the config: before ini.c it was read as an empty
# file and every mode ran on its defaults; now it is an error.
mkdir -p "$T/confdir"
expect_exit conf_dir_server_check 2 "$T/confdir: cannot read: Is a directory" "$IM" server -n -c "$T/confdir"
expect_exit conf_dir_client 2 "$T/confdir: cannot read: Is a directory" "$IM" client -c "$T/confdir" </dev/null
expect_exit conf_dir_users 2 "$T/confdir: cannot read: Is a directory" "$IM" users -c "$T/confdir"

# A byte order mark, CRLF line ends, an inline comment: the value is
# exactly the path (im users names the data_dir it did not find).
printf '\357\273\277; written on Windows\r\n[server]\r\ndata_dir = %s/nodata ; not here\r\n' "$T" >"$T/bom.conf"
expect_exit conf_bom_crlf_comment 1 "users file $T/nodata/users does not exist" "$IM" users -c "$T/bom.conf"

# The line limit of inih (199 bytes a piece): the rest of a long line is
# read as the next line, a syntax error there.
long=$(printf '%0300d' 0)
printf '[server]\n\ndata_dir = /%s\n' "$long" >"$T/long.conf"
expect_exit conf_long_line_splits 2 "$T/long.conf:4: syntax error" "$IM" server -n -c "$T/long.conf"

# An unknown section without keys is an error; a bad key anywhere is
# reported before it, as before ini.c.
printf '[server]\nport = 1\n[sever]\n' >"$T/empty.conf"
expect_exit conf_empty_unknown_section 2 "$T/empty.conf:3: unknown section \[sever\]" "$IM" server -n -c "$T/empty.conf"
printf '[sever]\n[server]\nbogus = 1\n' >"$T/both.conf"
expect_exit conf_key_error_before_section 2 "$T/both.conf:3: unknown key bogus in \[server\]" \
	"$IM" server -n -c "$T/both.conf"
