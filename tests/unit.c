/* unit: known-answer tests for the codecs and parsers (config, users
 * records, resume token records, names, PBKDF2, base64, framing, UTF-8,
 * splitting, escaping, the INI reader). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include <mbedtls/base64.h>

#include "cli.h"
#include "conf.h"
#include "edit.h"
#include "ini.h"
#include "net.h"
#include "peer.h"
#include "proto.h"
#include "screen.h"
#include "sess.h"
#include "store.h"
#include "tls.h"
#include "tlsmem.h"
#include "term.h"
#include "text.h"
#include "tokens.h"
#include "users.h"

static int failures, passes;

static void result(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints PASS name, or FAIL name: why. */
static void result(const char *name, int ok, const char *fmt, ...)
{
	if (ok) {
		printf("PASS %s\n", name);
		passes++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL %s: ", name);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

static char tmpdir[256];

/* Writes text to a fresh file in the temp dir and returns its path. */
static const char *write_tmp(const char *file, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", tmpdir, file);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	return path;
}

static void test_conf_good(void)
{
	struct conf c;
	char err[512] = "";
	conf_defaults(&c);
	const char *p = write_tmp("good.conf", "; comment\n[server]\nport = 6000\ndata_dir = /var/lib/im\n"
	                                       "allow_signup = no\nlog_level = debug\n"
	                                       "listen = 127.0.0.1, [::1] 10.0.0.2\nserver_name = box-1\n"
	                                       "[client]\nserver = example.org\npeer_port = 7000\n");
	int rc = conf_load(&c, p, err, sizeof err);
	result("conf_good_loads", rc == 0, "conf_load: %s", err);
	result("conf_good_values",
	       c.srv.port == 6000 && strcmp(c.srv.data_dir, "/var/lib/im") == 0 && c.srv.allow_signup == 0 &&
	           c.srv.log_level == 3 && strcmp(c.cli.server, "example.org") == 0 &&
	           c.cli.peer_port == 7000 && c.srv.max_contacts == 256,
	       "port %d data_dir %s signup %d", c.srv.port, c.srv.data_dir, c.srv.allow_signup);
	rc = conf_finish(&c, err, sizeof err);
	result("conf_finish_run_dir",
	       rc == 0 && strcmp(c.srv.run_dir, "/var/lib/im/run") == 0 &&
	           strcmp(c.srv.key_file, "/var/lib/im/server.key") == 0,
	       "rc %d run_dir %s", rc, c.srv.run_dir);
}

/* Loads text and expects an error mentioning every needle. */
static void conf_bad(const char *name, const char *text, const char *n1, const char *n2)
{
	struct conf c;
	char err[512] = "", want[600];
	conf_defaults(&c);
	const char *p = write_tmp("bad.conf", text);
	int rc = conf_load(&c, p, err, sizeof err);
	snprintf(want, sizeof want, "%s:%s", p, n1);
	result(name, rc == -1 && strstr(err, want) != NULL && strstr(err, n2) != NULL,
	       "rc %d err '%s' wants '%s' and '%s'", rc, err, want, n2);
}

static void test_conf_bad(void)
{
	conf_bad("conf_unknown_key", "[server]\nport = 1\n\nbogus_key = 3\n", "4:", "bogus_key");
	conf_bad("conf_bad_number", "[server]\nport = 12x\n", "2:", "port");
	conf_bad("conf_out_of_range", "[client]\n\n\nserver_port = 70000\n", "4:", "server_port");
	conf_bad("conf_bad_bool", "[server]\nallow_signup = maybe\n", "2:", "allow_signup");
	conf_bad("conf_unknown_section", "[server]\nport = 1\n[nonsense]\nport = 2\n", "4:", "nonsense");
	conf_bad("conf_syntax_error", "[server]\nthis is not a key\n", "2:", "syntax");
	conf_bad("conf_client_key_in_server", "[server]\nserver_port = 1\n", "2:", "server_port");
	conf_bad("conf_empty_unknown_section", "[server]\nport = 1\n[sever]\n", "3:", "sever");
	conf_bad("conf_listen_not_an_address", "[server]\n\nlisten = example.com\n", "3:", "listen");
	conf_bad("conf_listen_empty", "[server]\nlisten =\n", "2:", "listen");
	conf_bad("conf_peer_listen_bad", "[client]\npeer_listen = 10.0.0.300\n", "2:", "peer_listen");
	conf_bad("conf_server_name_two_words", "[server]\nserver_name = my box\n", "2:", "server_name");
	conf_bad("conf_server_name_empty", "[server]\nserver_name =\n", "2:", "server_name");
	conf_bad("conf_lan_ip_loopback", "[client]\n\nlan_ip = 127.0.0.99\n", "3:", "not a private");
	conf_bad("conf_lan_ip_public", "[client]\nlan_ip = 192.0.2.7\n", "2:", "lan_ip");
	conf_bad("conf_lan_ip_mapped", "[client]\nlan_ip = ::ffff:10.0.0.1\n", "2:", "lan_ip");
	conf_bad("conf_lan_ip_not_ip", "[client]\nlan_ip = myhost\n", "2:", "lan_ip");
	struct conf c;
	char err[512] = "";
	conf_defaults(&c);
	result("conf_dir_cannot_read",
	       conf_load(&c, tmpdir, err, sizeof err) == -1 && strstr(err, "cannot read") != NULL &&
	           strstr(err, tmpdir) != NULL,
	       "err '%s'", err);
	result("conf_missing_file",
	       conf_load(&c, "/nonexistent/im.conf", err, sizeof err) == -1 &&
	           strstr(err, "/nonexistent/im.conf") != NULL,
	       "err '%s'", err);
}

/* ini_read over text: every call as "[section] name=value|" (a section
 * line as "<section>@line|"), refusing keys named "no". */
struct ini_trace {
	char buf[1024];
	size_t len;
};

static void ini_trace_put(struct ini_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ini_trace_put(struct ini_trace *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - t->len - 1;
}

static int ini_trace_key(void *user, const char *section, const char *name, const char *value)
{
	ini_trace_put(user, "[%s] %s=%s|", section, name, value);
	return strcmp(name, "no") != 0;
}

static int ini_trace_section(void *user, const char *section, int lineno)
{
	ini_trace_put(user, "<%s>@%d|", section, lineno);
	return 1;
}

/* Reads len bytes of text (len 0: strlen) and expects rc and the trace. */
static void ini_case(const char *name, const char *text, size_t len, int sections, int want_rc,
                     const char *want)
{
	struct ini_trace t = {"", 0};
	char copy[2048];
	if (len == 0)
		len = strlen(text);
	memcpy(copy, text, len);
	FILE *f = fmemopen(copy, len, "r");
	int rc = f ? ini_read(f, ini_trace_key, sections ? ini_trace_section : NULL, &t) : -9;
	if (f)
		fclose(f);
	result(name, rc == want_rc && strcmp(t.buf, want) == 0, "rc %d (want %d), calls '%s' (want '%s')", rc,
	       want_rc, t.buf, want);
}

static void test_ini(void)
{
	ini_case("ini_basic", "; c\n# c\n  ; c\nk0 = v0\n[s]\nk = v\nk2:v2\n\n", 0, 0, 0,
	         "[] k0=v0|[s] k=v|[s] k2=v2|");
	ini_case("ini_whitespace", "[ a b ]\n \t k \t = \t v  w \t\r\n\v\fx=\f\n", 0, 0, 0,
	         "[ a b ] k=v  w|[ a b ] k=x=|");
	ini_case("ini_first_separator", "a=b=c:d\nc:d=e\n", 0, 0, 0, "[] a=b=c:d|[] c=d=e|");
	ini_case("ini_continuation", "[s]\nk = one\n  two\n\tthree ; cut\n  ; comment\n[t]\n  four\n", 0, 0,
	         7, "[s] k=one|[s] k=two|[s] k=three ; cut|");
	ini_case("ini_continuation_not_section", "k = v\n  [x]\n", 0, 0, 0, "[] k=v|[] k=[x]|");
	ini_case("ini_bom_skipped", "\xEF\xBB\xBF[s]\nk=v\n\xEF\xBB\xBFx=y\n", 0, 0, 0,
	         "[s] k=v|[s] \xEF\xBB\xBFx=y|");
	ini_case("ini_inline_comment", "a = v ; c\nb = v;c\nc =;v\nd = \t;v\n[s] ; c\n", 0, 0, 0,
	         "[] a=v|[] b=v;c|[] c=;v|[] d=|");
	ini_case("ini_comment_before_separator", "a ;x = v\nb = ok\n", 0, 0, 1, "[] b=ok|");
	ini_case("ini_first_error_line", "[s]\nno = 1\nbad\n[open\nk=v\n", 0, 0, 2, "[s] no=1|[s] k=v|");
	ini_case("ini_errors_go_on", "junk\nno = 2\nk = v\n", 0, 0, 1, "[] no=2|[] k=v|");
	ini_case("ini_no_value_is_error", "[s]\nname\nk=v\n", 0, 0, 2, "[s] k=v|");
	ini_case("ini_section_callback", "[a]\nk=v\n\n[b];x\n", 0, 1, 0, "<a>@1|[a] k=v|<b>@4|");
	/* 199 bytes a piece: the rest of a long line is the next "line" (and
	 * counts as one): "k = x...x" (199 bytes) "y = z", then "  tail" (a
	 * continuation of y), then 199 a's (no separator: the error on line 4)
	 * and its newline alone (line 5), then a refused key on line 6. */
	char text[700], want[400];
	size_t n = 0;
	n += (size_t)sprintf(text + n, "k = ");
	memset(text + n, 'x', 195);
	n += 195;
	n += (size_t)sprintf(text + n, "y = z\n  tail\n");
	memset(text + n, 'a', 199);
	n += 199;
	n += (size_t)sprintf(text + n, "\nno = 3\n");
	snprintf(want, sizeof want, "[] k=%.195s|[] y=z|[] y=tail|[] no=3|", text + 4);
	ini_case("ini_long_line_split", text, n, 0, 4, want);
	ini_case("ini_long_section_cut", "[0123456789012345678901234567890123456789012345678901234]\nk=v\n",
	         0, 1, 0,
	         "<0123456789012345678901234567890123456789012345678>@1|"
	         "[0123456789012345678901234567890123456789012345678] k=v|");
	ini_case("ini_long_name_cut_on_continuation",
	         "0123456789012345678901234567890123456789012345678901234 = a\n b\n", 0, 0, 0,
	         "[] 0123456789012345678901234567890123456789012345678901234=a|"
	         "[] 0123456789012345678901234567890123456789012345678=b|");
	ini_case("ini_nul_ends_line", "a=1\0b=2\nc=3\n", 12, 0, 0, "[] a=1|[] c=3|");
	ini_case("ini_no_final_newline", "[s]\nk = v", 0, 0, 0, "[s] k=v|");
	struct ini_trace t = {"", 0};
	FILE *dir = fopen(tmpdir, "r");
	int rc = dir ? ini_read(dir, ini_trace_key, NULL, &t) : 0;
	if (dir)
		fclose(dir);
	result("ini_unreadable_is_minus_one", rc == -1, "ini_read of a directory: %d", rc);
}

struct sample {
	char *text;
	int missing;
	char which[600];
};

/* Finds "\n<prefix><key> =" followed by a space or newline in [from, to). */
static int has_key_line(const char *from, const char *to, const char *prefix, const char *key)
{
	char want[128];
	snprintf(want, sizeof want, "\n%s%s =", prefix, key);
	for (const char *hit = strstr(from, want); hit != NULL && (to == NULL || hit < to);
	     hit = strstr(hit + 1, want)) {
		char after = hit[strlen(want)];
		if (after == ' ' || after == '\n')
			return 1;
	}
	return 0;
}

/* Counts a key that has neither a "key = value" line nor a commented-out
 * ";key = value" line (for defaults derived at run time) in its section. */
static void sample_key(const char *section, const char *key, void *arg)
{
	struct sample *s = arg;
	char head[64];
	snprintf(head, sizeof head, "\n[%s]\n", section);
	const char *sec = strstr(s->text, head);
	const char *next = sec ? strstr(sec + 1, "\n[") : NULL;
	if (sec == NULL || (!has_key_line(sec, next, "", key) && !has_key_line(sec, next, ";", key))) {
		s->missing++;
		size_t n = strlen(s->which);
		snprintf(s->which + n, sizeof s->which - n, " [%s]%s", section, key);
	}
}

/* [cluster] redis: HOST:PORT, [v6]:PORT, nothing else */
static void test_conf_hostport(void)
{
	static const struct {
		const char *in, *host;
		int port;
	} cases[] = {
	    {"127.0.0.1:6379", "127.0.0.1", 6379},
	    {"[::1]:1", "::1", 1},
	    {"redis-1.example_x:65535", "redis-1.example_x", 65535},
	    {"::1:6379", NULL, 0},
	    {"[::1]", NULL, 0},
	    {"[::1]6379", NULL, 0},
	    {"[10.0.0.1]:6379", NULL, 0},
	    {"host", NULL, 0},
	    {":6379", NULL, 0},
	    {"host:0", NULL, 0},
	    {"host:65536", NULL, 0},
	    {"host:+1", NULL, 0},
	    {"a b:1", NULL, 0},
	    {"-x:1", NULL, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char host[64] = "", why[200] = "";
		int port = -1;
		int rc = conf_hostport(cases[i].in, host, sizeof host, &port, why, sizeof why);
		int ok = cases[i].host ? rc == 0 && !strcmp(host, cases[i].host) && port == cases[i].port
		                       : rc == -1 && why[0] != '\0';
		char name[32];
		snprintf(name, sizeof name, "conf_hostport_%zu", i + 1);
		result(name, ok, "'%s': rc %d host '%s' port %d why '%s'", cases[i].in, rc, host, port, why);
	}
	char small[4], why[100];
	int port;
	result("conf_hostport_host_too_long",
	       conf_hostport("abcd:1", small, sizeof small, &port, why, sizeof why) < 0,
	       "a 4-byte host fit in 4 bytes");
}

/* The client's server list: entries, default port, IPv6 forms, limits. */
static void test_conf_servers(void)
{
	struct conf_server_addr a[CONF_SERVERS_MAX];
	char why[200] = "";
	int n = conf_servers_parse("a.example:6000 10.0.0.1,[::1]:7000 fe80::1%eth0  b", 5190, a,
	                           CONF_SERVERS_MAX, why, sizeof why);
	result("conf_servers_parse", n == 5, "n %d why '%s'", n, why);
	result("conf_servers_forms",
	       n == 5 && strcmp(a[0].hostport, "a.example:6000") == 0 && a[0].port == 6000 &&
	           strcmp(a[1].hostport, "10.0.0.1:5190") == 0 && strcmp(a[2].host, "::1") == 0 &&
	           strcmp(a[2].hostport, "[::1]:7000") == 0 &&
	           strcmp(a[3].hostport, "[fe80::1%eth0]:5190") == 0 && strcmp(a[4].hostport, "b:5190") == 0,
	       "%s %s %s %s %s", a[0].hostport, a[1].hostport, a[2].hostport, a[3].hostport, a[4].hostport);
	/* The one-server form of before keeps its known_servers key. */
	n = conf_servers_parse("::1", 5190, a, CONF_SERVERS_MAX, why, sizeof why);
	result("conf_servers_bare_v6", n == 1 && strcmp(a[0].hostport, "[::1]:5190") == 0, "n %d", n);
	static const char *const bad[][2] = {
	    {"a b c d e f g h i", "more than 8"},
	    {"a:0", "not a port"},
	    {"a:65536", "not a port"},
	    {"a:+5", "not a port"},
	    {"[::1]x", "not [IPv6"},
	    {"[10.0.0.1]:5", "not an IPv6"},
	    {"[::g]", "not an IPv6"},
	    {"-a", "not a host name"},
	    {"a..b", "not a host name"},
	    {"a/b:5", "not a host name"},
	    {"a:1:2x", "not an IPv6"},
	    {"a a:5190", "listed twice"},
	    {" , ", "no server"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "conf_servers_bad_%zu", i);
		why[0] = '\0';
		n = conf_servers_parse(bad[i][0], 5190, a, CONF_SERVERS_MAX, why, sizeof why);
		result(name, n == -1 && strstr(why, bad[i][1]) != NULL, "'%s': n %d why '%s'", bad[i][0], n,
		       why);
	}
}

static void test_conf_sample(void)
{
	const char *top = getenv("TOP");
	char path[512], err[512] = "";
	snprintf(path, sizeof path, "%s/config/im.conf", top ? top : ".");
	struct conf c;
	conf_defaults(&c);
	int rc = conf_load(&c, path, err, sizeof err);
	result("conf_sample_loads", rc == 0, "%s", err);
	struct conf d;
	conf_defaults(&d);
	result("conf_sample_matches_defaults", memcmp(&c, &d, sizeof c) == 0,
	       "values in %s differ from conf_defaults()", path);
	FILE *f = fopen(path, "r");
	struct sample s = {NULL, 0, ""};
	size_t cap = 0;
	if (f != NULL) {
		/* one leading newline so "\nkey = " also matches the first line */
		char *body = NULL;
		ssize_t n = getdelim(&body, &cap, '\0', f);
		fclose(f);
		if (n > 0) {
			s.text = malloc((size_t)n + 2);
			if (s.text == NULL)
				exit(1);
			s.text[0] = '\n';
			memcpy(s.text + 1, body, (size_t)n + 1);
		}
		free(body);
	}
	if (s.text == NULL) {
		result("conf_sample_has_every_key", 0, "cannot read %s", path);
		return;
	}
	conf_each_key(sample_key, &s);
	result("conf_sample_has_every_key", s.missing == 0, "%d keys missing:%s", s.missing, s.which);
	free(s.text);
}

static void test_users_codec(void)
{
	struct users_rec r, back;
	char line[USERS_LINE_MAX + 1], again[USERS_LINE_MAX + 1];
	memset(&r, 0, sizeof r);
	strcpy(r.name, "alice.b-c_1");
	r.iterations = 310000;
	r.salt_len = 16;
	for (int i = 0; i < 32; i++)
		r.hash[i] = (unsigned char)(255 - i);
	for (int i = 0; i < 16; i++)
		r.salt[i] = (unsigned char)(i * 7);
	int n = users_format_line(&r, line, sizeof line);
	result("users_format",
	       n > 0 && strcmp(line, "alice.b-c_1:pbkdf2-sha256:310000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	                             "//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA=") == 0,
	       "got '%s'", line);
	int rc = users_parse_line(line, (size_t)n, &back);
	result("users_round_trip", rc == 0 && memcmp(&r, &back, sizeof r) == 0, "parse rc %d", rc);
	int n2 = users_format_line(&back, again, sizeof again);
	result("users_reformat_identical", n2 == n && strcmp(line, again) == 0, "'%s' vs '%s'", line, again);
	result("users_format_small_buffer", users_format_line(&r, line, 20) == -1, "did not fail");
	strcpy(r.name, "Alice");
	result("users_format_rejects_unfolded", users_format_line(&r, line, sizeof line) == -1, "accepted");

	static const char *const bad[] = {
	    "",
	    "bob",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:AAAA:extra",
	    "Bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "-bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    ":pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha1:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:0:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:01000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:-5:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:99999999999:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:1000:AAcO:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaR==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZN "
	    "VFtiaQ=:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
	    "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r",
	    " bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	    "a23456789012345678901234567890123:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	};
	const char *good = "bob:pbkdf2-sha256:1000:AAcOFRwjKjE4P0ZNVFtiaQ==:"
	                   "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
	result("users_parse_good",
	       users_parse_line(good, strlen(good), &back) == 0 && back.iterations == 1000 &&
	           back.salt_len == 16 && back.hash[31] == 31 && strcmp(back.name, "bob") == 0,
	       "rejected '%s'", good);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char name[48];
		snprintf(name, sizeof name, "users_parse_rejects_%zu", i);
		result(name, users_parse_line(bad[i], strlen(bad[i]), &back) == -1, "accepted '%s'", bad[i]);
	}
	/* a NUL inside the line, which strlen-based code would miss */
	char withnul[200];
	size_t gl = strlen(good);
	memcpy(withnul, good, gl);
	withnul[3] = '\0';
	result("users_parse_rejects_nul", users_parse_line(withnul, gl, &back) == -1, "accepted");
}

static void test_users_hash(void)
{
	struct users_rec a, b;
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	strcpy(a.name, "keep");
	int rc = users_hash("correct horse", 13, 1000, &a);
	result("users_hash_ok",
	       rc == 0 && a.salt_len == USERS_SALT_LEN && a.iterations == 1000 && strcmp(a.name, "keep") == 0,
	       "rc %d", rc);
	users_hash("correct horse", 13, 1000, &b);
	result("users_hash_fresh_salt",
	       memcmp(a.salt, b.salt, USERS_SALT_LEN) != 0 && memcmp(a.hash, b.hash, USERS_HASH_LEN) != 0,
	       "two hashes share salt or hash");
	result("users_verify_good", users_verify(&a, "correct horse", 13) == 1, "rejected");
	result("users_verify_bad",
	       users_verify(&a, "correct horsf", 13) == 0 && users_verify(&a, "correct hors", 12) == 0 &&
	           users_verify(&a, "", 0) == 0,
	       "accepted a wrong password");
}

static int hex_is(const unsigned char *b, size_t n, const char *hex)
{
	char buf[256];
	for (size_t i = 0; i < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", b[i]);
	return strcmp(buf, hex) == 0;
}

static void test_pbkdf2(void)
{
	unsigned char dk[64];
	/* RFC 7914 section 11 */
	int rc = users_pbkdf2("passwd", 6, (const unsigned char *)"salt", 4, 1, dk, 64);
	result("pbkdf2_rfc7914_c1",
	       rc == 0 && hex_is(dk, 64,
	                         "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
	                         "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"),
	       "rc %d, wrong output", rc);
	rc = users_pbkdf2("Password", 8, (const unsigned char *)"NaCl", 4, 80000, dk, 64);
	result("pbkdf2_rfc7914_c80000",
	       rc == 0 && hex_is(dk, 64,
	                         "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
	                         "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"),
	       "rc %d, wrong output", rc);
	result("pbkdf2_rejects_zero_iterations", users_pbkdf2("x", 1, dk, 4, 0, dk, 32) == -1, "accepted");
}

static void test_base64(void)
{
	/* RFC 4648 section 10 */
	static const char *const vec[][2] = {{"", ""},
	                                     {"f", "Zg=="},
	                                     {"fo", "Zm8="},
	                                     {"foo", "Zm9v"},
	                                     {"foob", "Zm9vYg=="},
	                                     {"fooba", "Zm9vYmE="},
	                                     {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		unsigned char enc[32], dec[32];
		size_t elen = 0, dlen = 0;
		char name[48];
		int e = mbedtls_base64_encode(enc, sizeof enc, &elen, (const unsigned char *)vec[i][0],
		                              strlen(vec[i][0]));
		snprintf(name, sizeof name, "base64_encode_%s", vec[i][0][0] ? vec[i][0] : "empty");
		result(name, e == 0 && elen == strlen(vec[i][1]) && memcmp(enc, vec[i][1], elen) == 0,
		       "got '%.*s'", (int)elen, enc);
		int d = mbedtls_base64_decode(dec, sizeof dec, &dlen, (const unsigned char *)vec[i][1],
		                              strlen(vec[i][1]));
		snprintf(name, sizeof name, "base64_decode_%s", vec[i][0][0] ? vec[i][0] : "empty");
		result(name, d == 0 && dlen == strlen(vec[i][0]) && memcmp(dec, vec[i][0], dlen) == 0,
		       "got '%.*s'", (int)dlen, dec);
	}
	unsigned char dec[32];
	size_t dlen;
	result("base64_decode_rejects_bad_char",
	       mbedtls_base64_decode(dec, sizeof dec, &dlen, (const unsigned char *)"Zm9*", 4) != 0,
	       "accepted");
	result("base64_decode_rejects_bad_pad",
	       mbedtls_base64_decode(dec, sizeof dec, &dlen, (const unsigned char *)"Z===", 4) != 0,
	       "accepted");
}

static void test_names(void)
{
	char out[PROTO_NAME_MAX + 1];
	result("name_valid", proto_name_fold("alice_2.b-c", out) == 0 && strcmp(out, "alice_2.b-c") == 0,
	       "got '%s'", out);
	result("name_digit_start", proto_name_fold("7up", out) == 0 && strcmp(out, "7up") == 0, "rejected");
	result("name_folds", proto_name_fold("AlIcE", out) == 0 && strcmp(out, "alice") == 0, "got '%s'",
	       out);
	result("name_32_ok", proto_name_fold("a2345678901234567890123456789012", out) == 0, "rejected");
	result("name_33_too_long", proto_name_fold("a23456789012345678901234567890123", out) == -1,
	       "accepted");
	result("name_empty", proto_name_fold("", out) == -1, "accepted");
	static const char *const bad_start[] = {"_a", ".a", "-a"};
	for (size_t i = 0; i < 3; i++)
		result("name_bad_start", proto_name_fold(bad_start[i], out) == -1, "accepted '%s'",
		       bad_start[i]);
	static const char *const bad_chars[] = {"a b", "a:b", "a/b", "a@b", "al\xc3\xa9", "a\tb", "a+b"};
	for (size_t i = 0; i < sizeof bad_chars / sizeof bad_chars[0]; i++)
		result("name_bad_char", proto_name_fold(bad_chars[i], out) == -1, "accepted '%s'",
		       bad_chars[i]);
}

/* proto_frame on buf (n bytes) must give want, and for a line len/used. */
static void frame_is(const char *name, const char *buf, size_t n, size_t max, enum proto_frame want,
                     size_t wlen, size_t wused)
{
	size_t len = 999, used = 999;
	enum proto_frame got = proto_frame(buf, n, max, &len, &used);
	int ok = got == want && (want != PROTO_LINE || (len == wlen && used == wused));
	result(name, ok, "got %d len %zu used %zu, wanted %d len %zu used %zu", got, len, used, want, wlen,
	       wused);
}

static void test_frame(void)
{
	static char big[PROTO_LINE_MAX + 2];
	frame_is("frame_line", "abc\nrest", 8, PROTO_LINE_MAX, PROTO_LINE, 3, 4);
	frame_is("frame_crlf", "abc\r\n", 5, PROTO_LINE_MAX, PROTO_LINE, 3, 5);
	frame_is("frame_empty_line", "\n", 1, PROTO_LINE_MAX, PROTO_LINE, 0, 1);
	frame_is("frame_lone_cr_kept", "a\rb\n", 4, PROTO_LINE_MAX, PROTO_LINE, 3, 4);
	frame_is("frame_more", "abc", 3, PROTO_LINE_MAX, PROTO_MORE, 0, 0);
	frame_is("frame_nothing", "", 0, PROTO_LINE_MAX, PROTO_MORE, 0, 0);
	frame_is("frame_nul", "a\0b\n", 4, PROTO_LINE_MAX, PROTO_NUL, 0, 0);
	frame_is("frame_bad_utf8", "a\xff\n", 3, PROTO_LINE_MAX, PROTO_BADUTF8, 0, 0);
	memset(big, 'x', sizeof big);
	big[PROTO_LINE_MAX - 1] = '\n';
	frame_is("frame_max_fits", big, PROTO_LINE_MAX, PROTO_LINE_MAX, PROTO_LINE, PROTO_LINE_MAX - 1,
	         PROTO_LINE_MAX);
	big[PROTO_LINE_MAX - 1] = 'x';
	big[PROTO_LINE_MAX] = '\n';
	frame_is("frame_too_long", big, PROTO_LINE_MAX + 1, PROTO_LINE_MAX, PROTO_TOOLONG, 0, 0);
	frame_is("frame_too_long_no_nl", big, PROTO_LINE_MAX, PROTO_LINE_MAX, PROTO_TOOLONG, 0, 0);
	frame_is("frame_under_max_waits", big, PROTO_LINE_MAX - 1, PROTO_LINE_MAX, PROTO_MORE, 0, 0);
}

static void test_utf8(void)
{
	static const char *const good[] = {"",
	                                   "plain",
	                                   "h\xc3\xa9llo",
	                                   "\xe2\x82\xac",
	                                   "\xf0\x9d\x84\x9e",
	                                   "\xed\x9f\xbf",
	                                   "\xf4\x8f\xbf\xbf"};
	static const char *const bad[] = {
	    "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",     "\xed\xa0\x80", "\xf4\x90\x80\x80",
	    "\xe2\x82", "\x80",     "\xf5\x80\x80\x80", "a\xff",        "\xf0\x9d\x84"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		result("utf8_valid", proto_utf8_valid(good[i], strlen(good[i])) == 1, "rejected case %zu", i);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		result("utf8_invalid", proto_utf8_valid(bad[i], strlen(bad[i])) == 0, "accepted case %zu", i);
}

static void test_split(void)
{
	char line[64];
	char *tok[8];
	strcpy(line, "LOGIN bob my secret pass");
	int n = proto_split(line, tok, 3);
	result("split_rest_of_line",
	       n == 3 && !strcmp(tok[0], "LOGIN") && !strcmp(tok[1], "bob") &&
	           !strcmp(tok[2], "my secret pass"),
	       "n %d", n);
	strcpy(line, "a b c");
	n = proto_split(line, tok, 8);
	result("split_fewer_than_max", n == 3 && !strcmp(tok[2], "c"), "n %d", n);
	strcpy(line, "PING");
	n = proto_split(line, tok, 2);
	result("split_one", n == 1 && !strcmp(tok[0], "PING"), "n %d", n);
	strcpy(line, "");
	result("split_empty", proto_split(line, tok, 4) == 0, "not 0");
	strcpy(line, "a  b");
	result("split_double_space", proto_split(line, tok, 4) == -1, "accepted");
	strcpy(line, " a");
	result("split_leading_space", proto_split(line, tok, 4) == -1, "accepted");
	strcpy(line, "a b ");
	result("split_trailing_space", proto_split(line, tok, 4) == -1, "accepted");
}

static void test_online(void)
{
	static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	struct proto_online o;
	char line[256];
	snprintf(line, sizeof line, "Bob 192.0.2.7 40123 %s", key);
	result("online_plain",
	       proto_parse_online(line, &o) == 0 && !strcmp(o.name, "bob") && !strcmp(o.ip, "192.0.2.7") &&
	           o.port == 40123 && !strcmp(o.key, key) && o.lan[0] == '\0',
	       "not parsed");
	snprintf(line, sizeof line, "bob 2001:db8::7 1 %s fe80::1", key);
	result("online_ipv6_lan",
	       proto_parse_online(line, &o) == 0 && !strcmp(o.lan, "fe80::1") && o.port == 1, "not parsed");
	static const char *const bad[] = {
	    "bob 192.0.2.7 40123",                /* no key */
	    "bob 192.0.2.7 0 %s",                 /* port 0 */
	    "bob 192.0.2.7 65536 %s",             /* port too big */
	    "bob 192.0.2.7 +80 %s",               /* signed port */
	    "bob not-an-ip 80 %s",                /* ip */
	    "bob [::1] 80 %s",                    /* brackets */
	    "b!b 192.0.2.7 80 %s",                /* name */
	    "bob 192.0.2.7 80 %s 10.0.0.1 extra", /* too many */
	    "bob 192.0.2.7 80 %s lan",            /* lan not an ip */
	    "bob 192.0.2.7 80 %sA",               /* key too long */
	    "bob  192.0.2.7 80 %s",               /* double space */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* each case's one "%s" is where the key goes */
		const char *at = strstr(bad[i], "%s");
		if (at)
			snprintf(line, sizeof line, "%.*s%s%s", (int)(at - bad[i]), bad[i], key, at + 2);
		else
			snprintf(line, sizeof line, "%s", bad[i]);
		result("online_rejects", proto_parse_online(line, &o) == -1, "accepted case %zu", i);
	}
	unsigned port;
	result("port_rejects_empty", proto_port("", &port) == -1, "accepted");
	result("port_max", proto_port("65535", &port) == 0 && port == 65535, "rejected");

	char k[64];
	result("prefix_v4", proto_ip_prefix("192.0.2.7", 64, k, sizeof k) == 0 && strcmp(k, "192.0.2.7") == 0,
	       "'%s'", k);
	result("prefix_v4mapped",
	       proto_ip_prefix("::ffff:192.0.2.7", 64, k, sizeof k) == 0 && strcmp(k, "192.0.2.7") == 0,
	       "'%s'", k);
	result("prefix_v6_64",
	       proto_ip_prefix("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, k, sizeof k) == 0 &&
	           strcmp(k, "2001:db8:1:2::/64") == 0,
	       "'%s'", k);
	char k2[64];
	result("prefix_v6_same_net",
	       proto_ip_prefix("2001:db8:1:2::99", 64, k2, sizeof k2) == 0 && strcmp(k, k2) == 0, "'%s'", k2);
	result("prefix_v6_56",
	       proto_ip_prefix("2001:db8:1:2ff::1", 56, k, sizeof k) == 0 &&
	           strcmp(k, "2001:db8:1:200::/56") == 0,
	       "'%s'", k);
	result("prefix_v6_128", proto_ip_prefix("::1", 128, k, sizeof k) == 0 && strcmp(k, "::1/128") == 0,
	       "'%s'", k);
	result("prefix_rejects", proto_ip_prefix("example.org", 64, k, sizeof k) == -1, "accepted");
	result("prefix_small_buffer", proto_ip_prefix("2001:db8::1", 64, k, 8) == -1, "accepted");
}

static void test_lan(void)
{
	static const char *const ok[] = {"10.0.0.1",     "10.255.255.255", "172.16.0.1", "172.31.255.254",
	                                 "192.168.1.20", "169.254.3.4",    "fe80::1",    "fe80::1234:5678",
	                                 "febf::1",      "fd00::1",        "fc00::42",   "fd12:3456:789a::1"};
	static const char *const bad[] = {"127.0.0.99",
	                                  "127.0.0.1",
	                                  "0.0.0.0",
	                                  "224.0.0.1",
	                                  "239.255.255.250",
	                                  "255.255.255.255",
	                                  "8.8.8.8",
	                                  "192.0.2.7",
	                                  "172.15.255.255",
	                                  "172.32.0.1",
	                                  "192.169.0.1",
	                                  "100.64.0.1",
	                                  "::ffff:127.0.0.1",
	                                  "::ffff:10.0.0.1",
	                                  "::1",
	                                  "::",
	                                  "ff02::1",
	                                  "fec0::1",
	                                  "2001:db8::1",
	                                  "::10.0.0.1",
	                                  "10.0.0.1 ",
	                                  "",
	                                  "lan",
	                                  "fe80::1%eth0"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		result("lan_ok", proto_lan_ip_ok(ok[i], NULL) == 1, "refused %s", ok[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		result("lan_refused", proto_lan_ip_ok(bad[i], NULL) == 0, "accepted '%s'", bad[i]);

	static const struct proto_netif home[] = {
	    {"lo", "127.0.0.1", 8},        {"lo", "::1", 128},
	    {"eth0", "192.168.1.20", 24},  {"eth0", "fe80::aa:bbff:fecc:ddee", 64},
	    {"wg0", "10.7.0.2", 32},       {"eth1", "172.20.0.5", 12},
	    {"eth2", "fd00:1:2:3::5", 64}, {"odd", "169.254.0.0", 0},
	};
	size_t n = sizeof home / sizeof home[0];
	result("lan_net_same_v4", proto_lan_on_net("192.168.1.77", NULL, home, n) == 2, "no match");
	result("lan_net_other_v4", proto_lan_on_net("192.168.2.77", NULL, home, n) == -1, "matched");
	result("lan_net_10_99", proto_lan_on_net("10.99.99.99", NULL, home, n) == -1, "matched");
	result("lan_net_host_route_not_a_lan", proto_lan_on_net("10.7.0.2", NULL, home, n) == -1,
	       "matched a /32");
	result("lan_net_mask_12", proto_lan_on_net("172.31.1.1", NULL, home, n) == 5, "no match");
	result("lan_net_mask_12_edge", proto_lan_on_net("172.16.0.1", NULL, home, n) == 5, "no match");
	result("lan_net_link_local_v6", proto_lan_on_net("fe80::1", NULL, home, n) == 3, "no match");
	result("lan_net_ula_same", proto_lan_on_net("fd00:1:2:3::9", NULL, home, n) == 6, "no match");
	result("lan_net_ula_other", proto_lan_on_net("fd00:1:2:4::9", NULL, home, n) == -1, "matched");
	result("lan_net_zero_mask_ignored", proto_lan_on_net("169.254.9.9", NULL, home, n) == -1,
	       "matched a /0");
	result("lan_net_loopback_never", proto_lan_on_net("127.0.0.5", NULL, home, n) == -1,
	       "matched loopback");
	result("lan_net_bad_text", proto_lan_on_net("not-ip", NULL, home, n) == -1, "matched");
	result("lan_net_no_interfaces", proto_lan_on_net("192.168.1.77", NULL, home, 0) == -1, "matched");
	static const struct proto_netif odd_bits[] = {{"x", "10.1.2.3", 23}};
	result("lan_net_mask_23_in", proto_lan_on_net("10.1.3.200", NULL, odd_bits, 1) == 0, "no match");
	result("lan_net_mask_23_out", proto_lan_on_net("10.1.4.1", NULL, odd_bits, 1) == -1, "matched");
	/* link-local: only one interface with an fe80 address gives a scope */
	static const struct proto_netif two_ll[] = {
	    {"eth0", "192.168.1.20", 24}, {"eth0", "fe80::aa:bbff:fecc:ddee", 64}, {"eth0", "fe80::5", 64},
	    {"wlan0", "fe80::77:1", 64},  {"eth2", "fd00:1:2:3::5", 64},
	};
	result("lan_net_link_local_two_interfaces", proto_lan_on_net("fe80::1", NULL, two_ll, 5) == -2,
	       "got %d", proto_lan_on_net("fe80::1", NULL, two_ll, 5));
	result("lan_net_link_local_one_interface_two_addrs",
	       proto_lan_on_net("fe80::1", NULL, two_ll, 3) == 1, "got %d",
	       proto_lan_on_net("fe80::1", NULL, two_ll, 3));
	result("lan_net_ula_beside_two_link_locals", proto_lan_on_net("fd00:1:2:3::9", NULL, two_ll, 5) == 4,
	       "got %d", proto_lan_on_net("fd00:1:2:3::9", NULL, two_ll, 5));
	static const struct proto_netif v4_only[] = {{"eth0", "192.168.1.20", 24}};
	result("lan_net_family_differs", proto_lan_on_net("fe80::1", NULL, v4_only, 1) == -1, "matched");

	/* lan_nets: networks counted as LAN beside the private ranges. */
	struct proto_nets nets;
	char why[160];
	result("nets_empty", proto_nets_parse("", &nets, why, sizeof why) == 0 && nets.n == 0, "%s", why);
	result("nets_two",
	       proto_nets_parse("192.0.2.0/24, 2001:db8::/32", &nets, why, sizeof why) == 0 && nets.n == 2,
	       "%s", why);
	result("nets_in", proto_lan_ip_ok("192.0.2.77", &nets) == 1, "refused");
	result("nets_in_v6", proto_lan_ip_ok("2001:db8:1::5", &nets) == 1, "refused");
	result("nets_out", proto_lan_ip_ok("192.0.3.1", &nets) == 0, "accepted");
	result("nets_private_still", proto_lan_ip_ok("10.1.1.1", &nets) == 1, "refused");
	result("nets_loopback_never", proto_lan_ip_ok("127.0.0.1", &nets) == 0, "accepted");
	static const struct proto_netif doc[] = {{"wan", "192.0.2.10", 26}};
	result("nets_on_net", proto_lan_on_net("192.0.2.11", &nets, doc, 1) == 0, "no match");
	result("nets_on_net_needs_nets", proto_lan_on_net("192.0.2.11", NULL, doc, 1) == -1, "matched");
	static const char *const badnets[] = {"192.0.2.0",    "192.0.2.0/", "192.0.2.0/x",  "192.0.2.1/24",
	                                      "0.0.0.0/0",    "10.0.0.0/7", "127.0.0.0/8",  "224.0.0.0/4",
	                                      "::/0",         "ff00::/8",   "2001:db8::/8", "::ffff:0:0/96",
	                                      "192.0.2.0/33", "host/24",    "192.0.2.0/24x"};
	for (size_t i = 0; i < sizeof badnets / sizeof badnets[0]; i++)
		result("nets_refused", proto_nets_parse(badnets[i], &nets, why, sizeof why) == -1,
		       "accepted '%s'", badnets[i]);
	result(
	    "nets_too_many",
	    proto_nets_parse("10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 10.0.0.0/8 "
	                     "10.0.0.0/8 10.0.0.0/8",
	                     &nets, why, sizeof why) == -1,
	    "accepted 9");
}

static void test_escape(void)
{
	char out[64];
	int n = proto_escape("a\nb\\c", 5, out, sizeof out);
	result("escape_basic", n == 7 && strcmp(out, "a\\nb\\\\c") == 0, "n %d '%s'", n, out);
	n = proto_escape("x\r\ny", 4, out, sizeof out);
	result("escape_crlf", n == 4 && strcmp(out, "x\\ny") == 0, "n %d '%s'", n, out);
	n = proto_escape("x\ry", 3, out, sizeof out);
	result("escape_lone_cr_kept", n == 3 && strcmp(out, "x\ry") == 0, "n %d", n);
	result("escape_exact_fit", proto_escape("ab\n", 3, out, 5) == 4, "wrong");
	result("escape_too_small", proto_escape("ab\n", 3, out, 4) == -1, "accepted");
	n = proto_unescape("a\\nb\\\\c", 7, out, sizeof out);
	result("unescape_basic", n == 5 && memcmp(out, "a\nb\\c", 6) == 0, "n %d", n);
	result("unescape_bad_escape", proto_unescape("a\\tb", 4, out, sizeof out) == -1, "accepted");
	result("unescape_trailing_backslash", proto_unescape("ab\\", 3, out, sizeof out) == -1, "accepted");
	result("unescape_too_small", proto_unescape("abcd", 4, out, 4) == -1, "accepted");
	result("unescape_exact_fit", proto_unescape("abc", 3, out, 4) == 3, "wrong");
	const char *orig = "multi\nline \\ text\n";
	char esc[64], back[64];
	int e = proto_escape(orig, strlen(orig), esc, sizeof esc);
	int u = e < 0 ? -1 : proto_unescape(esc, (size_t)e, back, sizeof back);
	result("escape_round_trip", u == (int)strlen(orig) && strcmp(back, orig) == 0 && !strchr(esc, '\n'),
	       "e %d u %d", e, u);
}

/* The peer channel's line parser: each kind, and near misses of each. */
static void test_peer_line(void)
{
	struct proto_peer_line pl = {0};
	result("peer_hello",
	       proto_parse_peer_line("IM 1 Bob.Smith_2", &pl) == PROTO_PEER_HELLO &&
	           !strcmp(pl.name, "bob.smith_2"),
	       "kind %d name '%s'", pl.kind, pl.name);
	const char *line = "MSG q1 two  words ";
	result("peer_msg",
	       proto_parse_peer_line(line, &pl) == PROTO_PEER_MSG && pl.id == line + 4 && pl.idlen == 2 &&
	           !strcmp(pl.text, "two  words "),
	       "kind %d idlen %zu text '%s'", pl.kind, pl.idlen, pl.text);
	result("peer_msg_no_text",
	       proto_parse_peer_line("MSG q3", &pl) == PROTO_PEER_MSG && pl.idlen == 2 && pl.text[0] == '\0',
	       "kind %d", pl.kind);
	result("peer_msg_empty_id", proto_parse_peer_line("MSG  x", &pl) == PROTO_PEER_MSG && pl.idlen == 0,
	       "kind %d idlen %zu", pl.kind, pl.idlen);
	result("peer_ack", proto_parse_peer_line("ACK 42", &pl) == PROTO_PEER_ACK && pl.ack == 42, "kind %d",
	       pl.kind);
	result("peer_typing_bye",
	       proto_parse_peer_line("TYPING", &pl) == PROTO_PEER_TYPING &&
	           proto_parse_peer_line("BYE", &pl) == PROTO_PEER_BYE,
	       "not parsed");
	static const char *const other[] = {
	    "IM 2 bob",    "IM 1 -bob", "IM 1 bob extra",
	    "IM 1",        "ACK",       "ACK -1",
	    "ACK +5",      "ACK 1x",    "ACK 18446744073709551616",
	    "ACK 1 2",     "BYE now",   "bye",
	    "TYPING ",     "MSG",       "",
	    "HELLO there",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		result("peer_other", proto_parse_peer_line(other[i], &pl) == PROTO_PEER_OTHER,
		       "'%s' is kind %d", other[i], pl.kind);
}

/* What a CONTACTS line is charged: the names it adds or removes, after
 * duplicates and the user's own name are dropped. */
static void test_contacts_diff(void)
{
	sess_name have[3] = {"bob", "carol", "dave"};
	struct sess s = {.name = "alice", .contacts = have, .ncontacts = 3, .capcontacts = 3};
	sess_name in[5] = {"erin", "bob", "alice", "bob", "carol"};
	size_t n = 5, d = sess_contacts_diff(&s, in, &n);
	result("contacts_diff_changes",
	       d == 2 && n == 3 && !strcmp(in[0], "bob") && !strcmp(in[1], "carol") && !strcmp(in[2], "erin"),
	       "d=%zu n=%zu", d, n);
	sess_name same[3] = {"dave", "carol", "bob"};
	n = 3;
	d = sess_contacts_diff(&s, same, &n);
	result("contacts_diff_same_list", d == 0 && n == 3, "d=%zu n=%zu", d, n);
	n = 0;
	d = sess_contacts_diff(&s, NULL, &n);
	result("contacts_diff_empty_list", d == 3 && n == 0, "d=%zu n=%zu", d, n);
}

/* show_is NAME IN HOW WANT: proto_printable(IN) gives exactly WANT. */
static void show_is(const char *name, const char *in, enum proto_show how, const char *want)
{
	char out[256];
	size_t n = proto_printable(in, strlen(in), out, sizeof out, how);
	result(name, n == strlen(want) && strcmp(out, want) == 0, "got '%s', want '%s'", out, want);
}

static void test_printable(void)
{
	show_is("show_plain_kept", "hi \\n \\\\ Ünï 日本 😀", PROTO_SHOW_LINE, "hi \\n \\\\ Ünï 日本 😀");
	show_is("show_cr_forged_event", "hello\rmsg bob2 77 forged", PROTO_SHOW_LINE,
	        "hello\\rmsg bob2 77 forged");
	show_is("show_c0_del", "a\tb\x1b[2J\x07\x7f\x01\n", PROTO_SHOW_LINE,
	        "a\\tb\\x1b[2J\\x07\\x7f\\x01\\n");
	show_is("show_line_c1_bytes",
	        "x\xc2\x9b"
	        "1m\xc2\x85y",
	        PROTO_SHOW_LINE, "x\\xc2\\x9b1m\\xc2\\x85y");
	show_is("show_line_separators",
	        "a\xe2\x80\xa8"
	        "b\xe2\x80\xa9",
	        PROTO_SHOW_LINE, "a\\xe2\\x80\\xa8b\\xe2\\x80\\xa9");
	show_is("show_line_bidi_kept",
	        "a\xe2\x80\xae"
	        "b",
	        PROTO_SHOW_LINE,
	        "a\xe2\x80\xae"
	        "b");
	/* Batch events: DESIGN's letter, C0 and DEL only; a TEXT that is
	 * not wire-escaped yet gets its backslashes doubled. */
	show_is("show_batch_c0_del", "a\tb\x1b[2J\x07\x7f\x01\n\r", PROTO_SHOW_BATCH,
	        "a\\tb\\x1b[2J\\x07\\x7f\\x01\\n\\r");
	show_is("show_batch_c1_sep_bidi_kept",
	        "x\xc2\x9b"
	        "1m\xc2\x85y\xe2\x80\xa8z\xe2\x80\xa9\xe2\x80\xae\xe2\x81\xa6",
	        PROTO_SHOW_BATCH,
	        "x\xc2\x9b"
	        "1m\xc2\x85y\xe2\x80\xa8z\xe2\x80\xa9\xe2\x80\xae\xe2\x81\xa6");
	show_is("show_batch_backslash_as_is", "a\\nb\\\\c", PROTO_SHOW_BATCH, "a\\nb\\\\c");
	show_is("show_batch_bad_utf8", "a\xff\xc2", PROTO_SHOW_BATCH, "a\\xff\\xc2");
	show_is("show_batch_text_backslash_doubled", "401 x\\x1b[2J \\\\ \\n", PROTO_SHOW_BATCH_TEXT,
	        "401 x\\\\x1b[2J \\\\\\\\ \\\\n");
	show_is("show_batch_text_controls", "a\nb\x1b\xc2\x85", PROTO_SHOW_BATCH_TEXT, "a\\nb\\x1b\xc2\x85");
	show_is("show_screen_c1",
	        "x\xc2\x9b"
	        "1m\xc2\x80\xc2\x9f",
	        PROTO_SHOW_SCREEN, "x\\u009b1m\\u0080\\u009f");
	show_is("show_screen_bidi",
	        "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x80\xae|"
	        "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8"
	        "\xe2\x81\xa9",
	        PROTO_SHOW_SCREEN, "\\u202a\\u202b\\u202c\\u202d\\u202e|\\u2066\\u2067\\u2068\\u2069");
	show_is("show_screen_near_bidi_kept", "\xe2\x80\xa9\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xc2\xa0",
	        PROTO_SHOW_SCREEN, "\\u2029\xe2\x80\xaf\xe2\x81\xa5\xe2\x81\xaa\xc2\xa0");
	show_is("show_screen_newline_escaped", "a\nb\r", PROTO_SHOW_SCREEN, "a\\nb\\r");
	show_is("show_screen_nl_kept", "a\nb\x1b", PROTO_SHOW_SCREEN_NL, "a\nb\\x1b");
	show_is("show_bad_utf8_bytes",
	        "a\xff\xc2"
	        "b\xe2\x80",
	        PROTO_SHOW_SCREEN, "a\\xff\\xc2b\\xe2\\x80");
	char out[8];
	size_t n = proto_printable("abc\x1b"
	                           "def",
	                           7, out, 7, PROTO_SHOW_LINE);
	result("show_cut_whole_escape", n == 3 && strcmp(out, "abc") == 0, "n %zu '%s'", n, out);
	n = proto_printable("ab\xe2\x9c\x93\xe2\x9c\x93", 8, out, 7, PROTO_SHOW_LINE);
	result("show_cut_whole_char", n == 5 && strcmp(out, "ab\xe2\x9c\x93") == 0, "n %zu", n);
	n = proto_printable("x", 1, out, 1, PROTO_SHOW_LINE);
	result("show_cap_one", n == 0 && out[0] == '\0', "n %zu", n);
}

/* 1 if out holds something proto_printable must never write raw for how. */
static int raw_unsafe(const unsigned char *o, size_t n, enum proto_show how)
{
	for (size_t i = 0; i < n; i++) {
		if ((o[i] < 0x20 && !(o[i] == '\n' && how == PROTO_SHOW_SCREEN_NL)) || o[i] == 0x7f)
			return 1;
		if (how == PROTO_SHOW_BATCH_TEXT && o[i] == '\\') {
			/* only \\ \n \r \t \xHH: nothing else reads as an escape */
			if (i + 1 < n && strchr("\\nrt", o[i + 1]) != NULL && o[i + 1] != '\0') {
				i++;
				continue;
			}
			if (i + 3 < n && o[i + 1] == 'x' && isxdigit(o[i + 2]) && isxdigit(o[i + 3])) {
				i += 3;
				continue;
			}
			return 1;
		}
		if (how == PROTO_SHOW_BATCH || how == PROTO_SHOW_BATCH_TEXT)
			continue;
		if (i + 1 < n && o[i] == 0xc2 && o[i + 1] >= 0x80 && o[i + 1] <= 0x9f)
			return 1;
		if (i + 2 < n && o[i] == 0xe2 && o[i + 1] == 0x80 && (o[i + 2] == 0xa8 || o[i + 2] == 0xa9))
			return 1;
		if (how != PROTO_SHOW_LINE && i + 2 < n && o[i] == 0xe2 &&
		    ((o[i + 1] == 0x80 && o[i + 2] >= 0xaa && o[i + 2] <= 0xae) ||
		     (o[i + 1] == 0x81 && o[i + 2] >= 0xa6 && o[i + 2] <= 0xa9)))
			return 1;
	}
	return 0;
}

/* Random bytes, biased towards the interesting ones: whatever comes in,
 * nothing unsafe goes out, the output fits and is well-formed UTF-8. */
static void test_printable_random(void)
{
	static const unsigned char pool[] = {0x00, 0x07, 0x09, 0x0a, 0x0d, 0x1b, 0x7f, 'a',  '\\', ' ',
	                                     0xc2, 0x80, 0x85, 0x9b, 0x9f, 0xe2, 0x81, 0xa6, 0xa8, 0xae,
	                                     0xf0, 0x9f, 0x98, 0x80, 0xc3, 0xbc, 0xff, 0xed, 0xa0};
	unsigned seed = 12345;
	int bad = 0;
	char why[160] = "";
	for (int round = 0; round < 20000 && !bad; round++) {
		unsigned char in[48];
		char out[128];
		size_t len = (seed = seed * 1103515245 + 12345) >> 16 & 31;
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			in[i] =
			    (seed >> 16) & 1 ? pool[(seed >> 17) % sizeof pool] : (unsigned char)(seed >> 20);
		}
		size_t cap = 1 + ((seed >> 8) % sizeof out);
		for (int how = PROTO_SHOW_LINE; how <= PROTO_SHOW_SCREEN_NL; how++) {
			size_t n = proto_printable((const char *)in, len, out, cap, (enum proto_show)how);
			if (n >= cap || out[n] != '\0' || strlen(out) != n ||
			    raw_unsafe((const unsigned char *)out, n, (enum proto_show)how) ||
			    !proto_utf8_valid(out, n)) {
				snprintf(why, sizeof why, "round %d how %d len %zu cap %zu -> n %zu", round,
				         how, len, cap, n);
				bad = 1;
				break;
			}
		}
	}
	result("show_random_never_raw", !bad, "%s", why);
}

static void test_msg_id(void)
{
	result("msgid_digits", proto_msg_id_valid("1"), "refused");
	result("msgid_printable", proto_msg_id_valid("a-Z_~!#:/"), "refused");
	result("msgid_32", proto_msg_id_valid("0123456789abcdef0123456789abcdef"), "refused");
	result("msgid_33", !proto_msg_id_valid("0123456789abcdef0123456789abcdef0"), "accepted");
	result("msgid_empty", !proto_msg_id_valid(""), "accepted");
	result("msgid_space", !proto_msg_id_valid("a b"), "accepted");
	result("msgid_tab", !proto_msg_id_valid("a\tb"), "accepted");
	result("msgid_cr", !proto_msg_id_valid("1\r"), "accepted");
	result("msgid_esc", !proto_msg_id_valid("\x1b[2J"), "accepted");
	result("msgid_del", !proto_msg_id_valid("1\x7f"), "accepted");
	result("msgid_utf8", !proto_msg_id_valid("n\xc3\xbc"), "accepted");
	result("msgid_bidi", !proto_msg_id_valid("1\xe2\x80\xae"), "accepted");
}

/* A key that cannot be written stays pinned in memory; one that cannot
 * even be kept (the list is full) is not reported as remembered. */
static void test_store_pin(void)
{
	char dir[300], path[400], err[256] = "";
	struct store st;
	snprintf(dir, sizeof dir, "%s/state", tmpdir);
	snprintf(path, sizeof path, "%s/known_servers", dir);
	/* One entry short of full: the first new server fits, the next not. */
	FILE *f = mkdir(dir, 0700) == 0 ? fopen(path, "w") : NULL;
	for (int i = 0; f && i < STORE_MAX_ENTRIES - 1; i++)
		fprintf(f, "h%d:1 %064d\n", i, 0);
	if (f == NULL || fclose(f) != 0 || tls_init() < 0 || store_open(&st, dir, err, sizeof err) < 0) {
		result("store_open_for_pin", 0, "%s", err);
		return;
	}
	const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *k2 = "2222222222222222222222222222222222222222222222222222222222222222";
	result("store_pin_written", store_set_contact_key(&st, "bob", k1) == 0, "%s", strerror(errno));
	snprintf(path, sizeof path, "%s/known_keys.blocked", dir);
	char kk[400], ks[400];
	snprintf(kk, sizeof kk, "%s/known_keys", dir);
	snprintf(ks, sizeof ks, "%s/known_servers", dir);
	/* A directory where the file should be: the rename over it fails. */
	char ks_aside[420];
	snprintf(ks_aside, sizeof ks_aside, "%s.blocked", ks);
	if (rename(kk, path) < 0 || mkdir(kk, 0700) < 0 || rename(ks, ks_aside) < 0 || mkdir(ks, 0700) < 0) {
		result("store_pin_setup", 0, "%s", strerror(errno));
		store_close(&st);
		return;
	}
	int rc = store_set_contact_key(&st, "carol", k2);
	const char *got = store_contact_key(&st, "carol");
	result("store_pin_contact_unwritable",
	       rc == -1 && got && strcmp(got, k2) == 0 && strcmp(store_contact_key(&st, "bob"), k1) == 0,
	       "rc %d key %s", rc, got ? got : "(none)");
	rc = store_set_contact_key(&st, "bob", k2);
	got = store_contact_key(&st, "bob");
	result("store_pin_contact_replace_unwritable", rc == -1 && got && strcmp(got, k2) == 0, "rc %d", rc);
	rc = store_set_server_key(&st, "example.org:5190", k1);
	got = store_server_key(&st, "example.org:5190");
	result("store_pin_server_unwritable", rc == -1 && got && strcmp(got, k1) == 0, "rc %d key %s", rc,
	       got ? got : "(none)");
	errno = 0;
	rc = store_set_server_key(&st, "full.example:5190", k1);
	result("store_pin_full_not_remembered",
	       rc == -1 && errno == ENOSPC && store_server_key(&st, "full.example:5190") == NULL,
	       "rc %d errno %d", rc, errno);
	store_close(&st);
}

/* Full jitter: every delay within [floor, cap of its retry], the caps
 * doubling from the base to the ceiling, the extremes of rnd reaching
 * both ends, and different rnd giving different delays. */
static void test_backoff(void)
{
	static const unsigned want_caps[] = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
	int caps_ok = 1;
	for (unsigned a = 0; a < sizeof want_caps / sizeof want_caps[0]; a++)
		caps_ok &= cli_backoff_cap(a, 1000, 30000) == want_caps[a];
	result("backoff_caps_double_to_max", caps_ok, "caps differ from 1,2,4,8,16,30,30 s");
	result("backoff_cap_huge_attempt", cli_backoff_cap(4000000000u, 1000, 30000) == 30000, "%u",
	       cli_backoff_cap(4000000000u, 1000, 30000));
	result("backoff_cap_max_below_base", cli_backoff_cap(3, 5000, 2000) == 5000, "%u",
	       cli_backoff_cap(3, 5000, 2000));
	result("backoff_cap_no_overflow", cli_backoff_cap(40, 600000, 3600000) == 3600000, "%u",
	       cli_backoff_cap(40, 600000, 3600000));
	result("backoff_min_is_floor", cli_backoff_ms(0, 0, 1000, 30000) == CLI_BACKOFF_FLOOR_MS, "%u",
	       cli_backoff_ms(0, 0, 1000, 30000));
	result("backoff_max_is_cap", cli_backoff_ms(0, 900, 1000, 30000) == 1000, "%u",
	       cli_backoff_ms(0, 900, 1000, 30000));
	result("backoff_cap_below_floor", cli_backoff_ms(0, 12345, 100, 100) == 100, "%u",
	       cli_backoff_ms(0, 12345, 100, 100));
	unsigned lo = ~0u, hi = 0, bad = 0;
	uint32_t x = 2463534242u;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		unsigned a = (unsigned)i % 8, d = cli_backoff_ms(a, x, 1000, 30000);
		unsigned cap = cli_backoff_cap(a, 1000, 30000);
		if (d < CLI_BACKOFF_FLOOR_MS || d > cap)
			bad++;
		if (a == 5) {
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
	}
	result("backoff_within_bounds", bad == 0, "%u delays outside [floor, cap]", bad);
	/* Spread over the whole range, not bunched at the cap. */
	result("backoff_spread", lo < 1000 && hi > 29000, "attempt 5: %u..%u ms", lo, hi);
}

/* The client's tokens file (state_dir/tokens): load, bad lines skipped,
 * set, 0600, delete, persisted. */
static void test_store_tokens(void)
{
	const char *good = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123-_A";
	char dir[300], path[400], err[256] = "";
	snprintf(dir, sizeof dir, "%s/tokstate", tmpdir);
	snprintf(path, sizeof path, "%s/tokens", dir);
	const char *k1 = "1111111111111111111111111111111111111111111111111111111111111111";
	FILE *f = mkdir(dir, 0700) == 0 ? fopen(path, "w") : NULL;
	if (f) {
		fprintf(f, "# comment\nh:1 %s alice %s\nbad line\nh:1 %s bob short\n", k1, good, k1);
		fclose(f);
	}
	struct store st;
	if (f == NULL || tls_init() < 0 || store_open(&st, dir, err, sizeof err) < 0) {
		result("store_token_open", 0, "%s", err);
		return;
	}
	const struct store_token *t = store_token(&st, "h:1", "alice");
	result("store_token_loaded", t && strcmp(t->token, good) == 0 && strcmp(t->key, k1) == 0,
	       "not loaded");
	result("store_token_bad_lines_skipped", st.ntokens == 1 && store_token(&st, "h:1", "bob") == NULL,
	       "%zu", st.ntokens);
	result("store_token_other_server", store_token(&st, "h:2", "alice") == NULL, "found");
	const char *good2 = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlk0";
	result("store_token_set", store_set_token(&st, "h:2", k1, "alice", good2) == 0, "%s",
	       strerror(errno));
	result("store_token_set_bad", store_set_token(&st, "h:2", k1, "alice", "x y") < 0, "accepted");
	struct stat sb;
	result("store_token_file_0600", stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o",
	       (unsigned)(sb.st_mode & 0777));
	result("store_token_del",
	       store_del_token(&st, "h:1", "alice") == 0 && store_token(&st, "h:1", "alice") == NULL,
	       "still there");
	store_close(&st);
	if (store_open(&st, dir, err, sizeof err) < 0) {
		result("store_token_reopen", 0, "%s", err);
		return;
	}
	t = store_token(&st, "h:2", "alice");
	result("store_token_persisted", st.ntokens == 1 && t && strcmp(t->token, good2) == 0, "%zu",
	       st.ntokens);
	store_close(&st);
}

/* Resume tokens: the file's line codec, the text form, the hash, the
 * new config keys and their bounds. */
static void test_tokens(void)
{
	struct tokens_rec r, back;
	char line[TOKENS_LINE_MAX + 1], again[TOKENS_LINE_MAX + 1], text[TOKENS_TEXT_LEN + 1];
	memset(&r, 0, sizeof r);
	strcpy(r.name, "alice.b-c_1");
	for (int i = 0; i < TOKENS_HASH_LEN; i++)
		r.hash[i] = (unsigned char)(i * 7 + 1);
	for (int i = 0; i < TOKENS_BIND_LEN; i++)
		r.bind[i] = (unsigned char)(0xf0 | i);
	r.expires = 1798615255;
	int n = tokens_format_line(&r, line, sizeof line);
	result("tokens_format",
	       n > 0 && strcmp(line,
	                       "alice.b-c_1:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:"
	                       "1798615255:f0f1f2f3f4f5f6f7") == 0,
	       "got '%s'", line);
	int rc = tokens_parse_line(line, (size_t)n, &back);
	int m = rc == 0 ? tokens_format_line(&back, again, sizeof again) : -1;
	result("tokens_roundtrip", rc == 0 && m == n && strcmp(line, again) == 0, "rc %d '%s'", rc, again);
	static const char *const bad[] = {
	    "",
	    "alice",
	    "Alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:1:"
	    "f0f1f2f3f4f5f6f7",
	    "alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3d:1:"
	    "f0f1f2f3f4f5f6f7",
	    "alice:01080F161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:1:"
	    "f0f1f2f3f4f5f6f7",
	    "alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:-1:"
	    "f0f1f2f3f4f5f6f7",
	    "alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:01:"
	    "f0f1f2f3f4f5f6f7",
	    "alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da:1:"
	    "f0f1f2f3f4f5f6f7:x",
	    "alice:01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da::"
	    "f0f1f2f3f4f5f6f7",
	};
	int refused = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		refused += tokens_parse_line(bad[i], strlen(bad[i]), &back) == -1;
	result("tokens_parse_refuses_bad", refused == (int)(sizeof bad / sizeof bad[0]), "%d of %zu refused",
	       refused, sizeof bad / sizeof bad[0]);
	unsigned char raw[TOKENS_RAW_LEN];
	memset(raw, 0xff, sizeof raw);
	tokens_encode(raw, text);
	result("tokens_encode_base64url",
	       strcmp(text, "__________________________________________8") == 0 && tokens_text_valid(text),
	       "got '%s'", text);
	result("tokens_text_valid",
	       !tokens_text_valid("") && !tokens_text_valid("__________________________________________") &&
	           !tokens_text_valid("__________________________________________8A") &&
	           !tokens_text_valid("+_________________________________________8") &&
	           !tokens_text_valid("=_________________________________________8"),
	       "a bad token text was accepted");
	unsigned char h[TOKENS_HASH_LEN];
	static const unsigned char abc[] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
	                                    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
	                                    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	result("tokens_hash_sha256", tokens_hash("abc", h) == 0 && memcmp(h, abc, sizeof h) == 0,
	       "SHA-256(abc) differs");
	struct users_rec u1, u2;
	unsigned char b1[TOKENS_BIND_LEN], b2[TOKENS_BIND_LEN];
	memset(&u1, 0, sizeof u1);
	u1.iterations = 1000;
	u1.salt_len = 16;
	u2 = u1;
	u2.hash[0] = 1;
	result("tokens_bind_follows_password",
	       tokens_bind(&u1, b1) == 0 && tokens_bind(&u2, b2) == 0 && memcmp(b1, b2, sizeof b1) != 0,
	       "a changed hash keeps the same binding");
	struct conf c;
	char err[512] = "";
	conf_defaults(&c);
	result("conf_token_defaults",
	       c.srv.allow_resume == 1 && c.srv.token_lifetime == 30 * 86400 &&
	           c.srv.max_tokens_per_user == 4,
	       "allow_resume %d token_lifetime %d max_tokens_per_user %d", c.srv.allow_resume,
	       c.srv.token_lifetime, c.srv.max_tokens_per_user);
	const char *p = write_tmp("tok.conf", "[server]\nallow_resume = no\ntoken_lifetime = 2\n"
	                                      "max_tokens_per_user = 64\n");
	rc = conf_load(&c, p, err, sizeof err);
	result("conf_token_keys_load",
	       rc == 0 && c.srv.allow_resume == 0 && c.srv.token_lifetime == 2 &&
	           c.srv.max_tokens_per_user == 64,
	       "rc %d %s", rc, err);
	conf_bad("conf_token_lifetime_min", "[server]\ntoken_lifetime = 1\n", "2: ", "token_lifetime");
	conf_bad("conf_max_tokens_per_user_max", "[server]\nmax_tokens_per_user = 65\n",
	         "2: ", "max_tokens_per_user");
}

/* tlsmem: zeroed blocks, reuse of freed ones (zeroed again), big blocks,
 * overflowing sizes refused, and a freed block reused only at its size. */
static void test_tlsmem(void)
{
	unsigned char *a = tlsmem_calloc(3, 20), *big = tlsmem_calloc(1, 5000);
	int zero = a != NULL && big != NULL;
	for (int i = 0; zero && i < 60; i++)
		zero = a[i] == 0;
	for (int i = 0; zero && i < 5000; i++)
		zero = big[i] == 0;
	result("tlsmem_zeroed", zero, "a fresh block is not zeroed");
	result("tlsmem_aligned", ((uintptr_t)a % 16) == 0 && ((uintptr_t)big % 16) == 0, "%p %p", (void *)a,
	       (void *)big);
	memset(a, 0xab, 60);
	memset(big, 0xcd, 5000);
	tlsmem_free(a);
	tlsmem_free(big);
	unsigned char *b = tlsmem_calloc(1, 64); /* the same 16-byte class as 60 */
	int rezero = b != NULL;
	for (int i = 0; rezero && i < 64; i++)
		rezero = b[i] == 0;
	result("tlsmem_reused_zeroed", b == a && rezero, "reuse %d, zeroed %d", b == a, rezero);
	unsigned char *c = tlsmem_calloc(1, 100);
	result("tlsmem_other_class", c != NULL && c != a, "a 100-byte block got the 64-byte one");
	result("tlsmem_overflow",
	       tlsmem_calloc(SIZE_MAX / 2, 3) == NULL && tlsmem_calloc(2, SIZE_MAX - 8) == NULL,
	       "an overflowing size was not refused");
	void *z = tlsmem_calloc(0, 0);
	result("tlsmem_zero_size", z != NULL, "calloc(0, 0) gave NULL");
	tlsmem_free(z);
	tlsmem_free(NULL);
	/* more frees than a class keeps: the rest go back to malloc */
	unsigned char *many[100];
	int ok = 1;
	for (int i = 0; i < 100; i++) {
		many[i] = tlsmem_calloc(1, 32);
		ok = ok && many[i] != NULL;
		if (many[i] != NULL)
			memset(many[i], 0xee, 32);
	}
	for (int i = 0; i < 100; i++)
		tlsmem_free(many[i]);
	for (int i = 0; ok && i < 100; i++) {
		many[i] = tlsmem_calloc(2, 16);
		for (int j = 0; ok && j < 32; j++)
			ok = many[i] != NULL && many[i][j] == 0;
		for (int j = 0; ok && j < i; j++)
			ok = many[j] != many[i];
	}
	result("tlsmem_many", ok, "100 blocks after 100 frees: not all fresh, zeroed and distinct");
	for (int i = 0; ok && i < 100; i++) /* on failure some are stale */
		tlsmem_free(many[i]);
	tlsmem_free(b);
	tlsmem_free(c);
}

/* The path ladder's choice: every combination of what it depends on,
 * against the rule of protocol 1.1 written out. */
static void test_ladder(void)
{
	int bad = 0;
	for (int m = 0; m < 96; m++) {
		struct peer_ladder in = {.same_nat = m & 1,
		                         .reach = (m >> 1) % 3,
		                         .self_open = (m / 6) & 1,
		                         .calls = (m / 12) & 1,
		                         .lan = (m / 48) & 1};
		enum peer_path want[5], got[5];
		int nw = 0, ng = 0;
		if (in.same_nat || (in.lan && in.reach == PEER_REACH_CLOSED))
			want[nw++] = PEER_PATH_LAN;
		if (in.reach != PEER_REACH_CLOSED)
			want[nw++] = PEER_PATH_DIRECT;
		if (in.self_open && in.calls)
			want[nw++] = PEER_PATH_REVERSE;
		if (in.calls)
			want[nw++] = PEER_PATH_PUNCHED;
		for (enum peer_path at = PEER_PATH_NONE; ng < 5;) {
			at = peer_ladder_next(at, &in);
			if (at == PEER_PATH_NONE)
				break;
			got[ng++] = at;
		}
		if (ng != nw || memcmp(got, want, sizeof want[0] * (size_t)nw) != 0)
			bad++;
	}
	result("ladder_rungs_all_cases", bad == 0, "%d of 96 cases differ", bad);
	/* Early after login our observed ip is unknown (no REACH about us
	 * yet), so same_nat is 0 but lan is 1: a closed contact's LAN
	 * address on our networks is still dialed, as a rung of its own. */
	struct peer_ladder early = {.reach = PEER_REACH_CLOSED, .calls = 1, .lan = 1};
	result("ladder_closed_contact_lan_tried",
	       peer_ladder_next(PEER_PATH_NONE, &early) == PEER_PATH_LAN &&
	           peer_ladder_next(PEER_PATH_LAN, &early) == PEER_PATH_PUNCHED,
	       "a closed contact's LAN address is never dialed before the punch");
	struct peer_ladder v1 = {.reach = PEER_REACH_UNKNOWN};
	result("ladder_version1_direct_only",
	       peer_ladder_next(PEER_PATH_NONE, &v1) == PEER_PATH_DIRECT &&
	           peer_ladder_next(PEER_PATH_DIRECT, &v1) == PEER_PATH_NONE,
	       "a contact without 1.1 gets more than the direct dial");
	struct peer_ladder nat = {.reach = PEER_REACH_CLOSED, .calls = 1};
	result("ladder_both_closed_punch",
	       peer_ladder_next(PEER_PATH_NONE, &nat) == PEER_PATH_PUNCHED &&
	           peer_ladder_next(PEER_PATH_PUNCHED, &nat) == PEER_PATH_NONE,
	       "both closed does not go straight to the punch");
	result("ladder_words",
	       !strcmp(peer_path_word(PEER_PATH_LAN), "lan") &&
	           !strcmp(peer_path_word(PEER_PATH_DIRECT), "direct") &&
	           !strcmp(peer_path_word(PEER_PATH_REVERSE), "reverse") &&
	           !strcmp(peer_path_word(PEER_PATH_PUNCHED), "punched"),
	       "wrong words");
}

static void test_reach_lines(void)
{
	struct proto_reach r;
	result("reach_line",
	       proto_parse_reach("REACH Bob open 192.0.2.7", &r) == PROTO_REACH_LINE &&
	           !strcmp(r.name, "bob") && r.state == PROTO_REACH_OPEN && !strcmp(r.ip, "192.0.2.7"),
	       "not parsed");
	result("reach_states",
	       proto_parse_reach("REACH bob closed 2001:db8::1", &r) == PROTO_REACH_LINE &&
	           r.state == PROTO_REACH_CLOSED &&
	           proto_parse_reach("REACH bob unknown 10.0.0.1", &r) == PROTO_REACH_LINE &&
	           r.state == PROTO_REACH_UNKNOWN,
	       "states");
	result("reach_call", proto_parse_reach("CALL bob", &r) == PROTO_CALL_LINE && !strcmp(r.name, "bob"),
	       "CALL");
	result("reach_punch",
	       proto_parse_reach("PUNCH bob 198.51.100.2 40000", &r) == PROTO_PUNCH_LINE &&
	           !strcmp(r.ip, "198.51.100.2") && r.port == 40000,
	       "PUNCH");
	static const char *const bad[] = {
	    "REACH bob open",
	    "REACH bob maybe 192.0.2.7",
	    "REACH bob open 192.0.2.7 x",
	    "REACH b!b open 192.0.2.7",
	    "REACH bob open [::1]",
	    "CALL",
	    "CALL bob extra",
	    "CALL  bob",
	    "PUNCH bob 192.0.2.7",
	    "PUNCH bob 192.0.2.7 0",
	    "PUNCH bob 192.0.2.7 65536",
	    "PUNCH bob host 80",
	    "PUNCH bob 192.0.2.7 80 x",
	    "ONLINE bob",
	    "",
	};
	int nbad = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (proto_parse_reach(bad[i], &r) != -1) {
			printf("  accepted: '%s'\n", bad[i]);
			nbad++;
		}
	result("reach_malformed_refused", nbad == 0, "%d accepted", nbad);
}

/* net_dial_from: a connection that really leaves from the shared
 * listener's port, while that listener still listens. */
static void test_dial_from(void)
{
	struct sockaddr_storage a, b;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&a, *b4 = (struct sockaddr_in *)&b;
	enum net_step step;
	memset(&a, 0, sizeof a);
	a4->sin_family = AF_INET;
	a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b = a;
	int la = net_listen_shared(&a, sizeof *a4, 0, -1, 4, &step);
	int lb = net_listen(&b, sizeof *b4, 0, -1, 4, &step);
	int fd = la >= 0 && lb >= 0 ? net_dial_from(&a, (struct sockaddr *)&b, sizeof *b4, &step) : -1;
	struct pollfd pf = {.fd = lb, .events = POLLIN};
	int cfd = fd >= 0 && poll(&pf, 1, 2000) == 1 ? accept(lb, NULL, NULL) : -1;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	unsigned port = 0;
	char ip[64];
	if (cfd >= 0 && getpeername(cfd, (struct sockaddr *)&peer, &pl) == 0)
		net_addr_text(&peer, 1, ip, sizeof ip, &port);
	result("net_dial_from_listener_port", cfd >= 0 && port == ntohs(a4->sin_port),
	       "accepted %d, from port %u, listener on %u (%s)", cfd, port, ntohs(a4->sin_port),
	       strerror(errno));
	/* the listener whose port it shares still takes connections */
	int d2 = la >= 0 ? net_dial((struct sockaddr *)&a, sizeof *a4, 0, &step) : -1;
	struct pollfd pa = {.fd = la, .events = POLLIN};
	int c2 = d2 >= 0 && poll(&pa, 1, 2000) == 1 ? accept(la, NULL, NULL) : -1;
	result("net_dial_from_listener_still_accepts", c2 >= 0, "no connection accepted");
	if (c2 >= 0)
		close(c2);
	if (d2 >= 0)
		close(d2);
	struct sockaddr_in6 v6;
	memset(&v6, 0, sizeof v6);
	v6.sin6_family = AF_INET6;
	v6.sin6_addr = in6addr_loopback;
	v6.sin6_port = htons(9);
	errno = 0;
	result("net_dial_from_family_mismatch",
	       la >= 0 && net_dial_from(&a, (struct sockaddr *)&v6, sizeof v6, &step) < 0 &&
	           errno == EAFNOSUPPORT,
	       "an IPv6 address from an IPv4 port: %s", strerror(errno));
	if (cfd >= 0)
		close(cfd);
	if (fd >= 0)
		close(fd);
	if (la >= 0)
		close(la);
	if (lb >= 0)
		close(lb);
}

/* The full-screen view's layout helpers and a drawn frame. */
static struct scr_entry *mk_entry(enum scr_kind kind, const char *who, const char *text)
{
	static struct scr_entry pool[8];
	static char texts[8][128];
	static size_t n;
	struct scr_entry *e = &pool[n % 8];
	char *t = texts[n++ % 8];
	memset(e, 0, sizeof *e);
	memcpy(e->ts, "12:34", 6);
	e->kind = (unsigned char)kind;
	snprintf(e->who, sizeof e->who, "%s", who);
	snprintf(t, 128, "%s", text);
	e->text = t;
	return e;
}

static void test_screen(void)
{
	struct scr_contact c[] = {{"zed", '?', 2, 0},
	                          {"bob", '-', 1, 0},
	                          {"carol", '+', 0, 3},
	                          {"amy", '!', 1, 0},
	                          {"al", '+', 0, 0}};
	qsort(c, 5, sizeof c[0], screen_contact_cmp);
	char order[256] = "";
	for (int i = 0; i < 5; i++) {
		size_t o = strlen(order);
		order[o] = c[i].mark;
		order[o + 1] = '\0';
		strcat(order, c[i].name);
		strcat(order, " ");
	}
	result("screen_contacts_online_offline_asked", strcmp(order, "+al +carol !amy -bob ?zed ") == 0, "%s",
	       order);

	struct scr_win st = {.name = "status"}, bob = {.name = "bob"}, carol = {.name = "carol", .unread = 2};
	struct scr_win *wins[] = {&st, &bob, &carol};
	struct edit ed;
	edit_init(&ed, NULL, NULL);
	struct scr_model m = {.rows = 24,
	                      .cols = 80,
	                      .wins = wins,
	                      .nwins = 3,
	                      .open = 1,
	                      .contacts = c,
	                      .ncontacts = 5,
	                      .me = "alice",
	                      .link = CLI_LINK_UP,
	                      .title = "bob (online)",
	                      .prompt = "[bob] ",
	                      .ed = &ed};
	char line[256];
	screen_status(&m, line, sizeof line);
	result("screen_status_windows", strcmp(line, "[alice] connected 1:status [2:bob] 3:carol*") == 0,
	       "%s", line);
	m.link = CLI_LINK_RETRY;
	screen_status(&m, line, sizeof line);
	result("screen_status_reconnecting", strncmp(line, "[alice] reconnecting 1:", 23) == 0, "%s", line);
	m.me = "";
	m.link = CLI_LINK_IDLE;
	screen_status(&m, line, sizeof line);
	result("screen_status_not_logged_in", strncmp(line, "[not logged in] 1:status", 24) == 0, "%s", line);
	m.me = "alice";
	m.link = CLI_LINK_UP;

	size_t d, l;
	screen_layout(80, &d, &l);
	int ok = d == 58 && l == 20;
	screen_layout(59, &d, &l);
	result("screen_layout_list_from_60", ok && d == 59 && l == 0, "%zu %zu", d, l);

	/* width 20: 14 columns after "HH:MM ": "bob: one two" "three four" "five" */
	struct scr_entry *e = mk_entry(SCR_THEIRS, "bob", "one two three four five");
	size_t r1 = screen_entry_rows(e, 20);
	e = mk_entry(SCR_THEIRS, "bob", "a\nb\nc");
	size_t r2 = screen_entry_rows(e, 20);
	/* 7 wide characters (14 columns) after "bob: " (5): 9 fit the first
	 * row's remaining columns as 4 characters, the rest on the second */
	e = mk_entry(SCR_THEIRS, "bob",
	             "\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2\xe6\xbc\xa2");
	size_t r3 = screen_entry_rows(e, 20);
	result("screen_entry_rows_wrap", r1 == 3 && r2 == 3 && r3 == 2, "%zu %zu %zu", r1, r2, r3);

	struct scr_entry *ents[] = {mk_entry(SCR_MINE, "alice", "hello \xc3\xbc"),
	                            mk_entry(SCR_THEIRS, "bob", "line1\nline2"),
	                            mk_entry(SCR_SYS, "", "bob is online")};
	static char reason[] = "not online";
	ents[0]->reason = reason;
	for (int i = 0; i < 3; i++)
		bob.ent[bob.n++] = ents[i];
	struct scr_buf b = {0};
	m.color = 1;
	screen_draw(&b, &m);
	char *out = malloc(b.len + 1);
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	ok = strstr(out, " im: bob (online)") && strstr(out, "12:34 ") && strstr(out, "hello \xc3\xbc") &&
	     strstr(out, " [not delivered: not online]") && strstr(out, "\033[1;36malice:") &&
	     strstr(out, "\033[32mbob:") && strstr(out, "      line2") &&
	     strstr(out, "|  Contacts") == NULL && strstr(out, "| Contacts") &&
	     strstr(out, "| + carol (3)") && strstr(out, "[alice] connected") && strstr(out, "\033[24;1H");
	result("screen_draw_frame", ok, "%.300s", out);
	free(out);
	b.len = 0;
	m.color = 0;
	m.cols = 40;
	screen_draw(&b, &m);
	out = malloc(b.len + 1);
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	result("screen_draw_no_color_narrow",
	       strstr(out, "\033[31m") == NULL && strstr(out, "\033[32m") == NULL &&
	           strstr(out, "\033[1;36m") == NULL && strstr(out, "\033[1malice:") &&
	           strchr(out, '|') == NULL,
	       "%.300s", out);
	free(out);
	/* 3 entries, 5 rows at width 40 (the failed one's mark wraps) in 21 */
	result("screen_scroll_max",
	       screen_scroll_max(&bob, 40, 21) == 0 && screen_scroll_max(&bob, 40, 2) > 0, "%zu",
	       screen_scroll_max(&bob, 40, 2));
	screen_buf_free(&b);
	edit_free(&ed);
}

/* text: widths, stepping by character, wrapping */
static void test_text(void)
{
	static const struct {
		const char *s;
		size_t w;
	} widths[] = {
	    {"hello", 5},
	    {"caf\xc3\xa9", 4},              /* é composed */
	    {"cafe\xcc\x81", 4},             /* e + U+0301 */
	    {"\xe6\x97\xa5\xe6\x9c\xac", 4}, /* 日本 */
	    {"\xf0\x9f\x98\x80", 2},         /* 😀 */
	    {"a\x01"
	     "b",
	     3},                             /* a control shows as one column */
	    {"\xff", 1},                     /* an invalid byte too */
	    {"\xea\xb0\x80", 2},             /* 가 */
	    {"\xe1\x84\x80\xe1\x85\xa1", 2}, /* Jamo L + medial vowel */
	    {"a\xe2\x80\x8b"
	     "b",
	     2},                             /* zero width space */
	    {"\xef\xbc\xa1", 2},             /* fullwidth A */
	    {"\xe2\x9d\xa4\xef\xb8\x8f", 1}, /* heart + VS16: 1 + 0 */
	    {"", 0},
	};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		size_t w = text_width(widths[i].s, strlen(widths[i].s));
		result("text_width", w == widths[i].w, "case %zu: %zu columns, want %zu", i, w, widths[i].w);
	}
	static const struct {
		uint32_t cp;
		int w;
	} cps[] = {{'a', 1},     {0, -1},      {0x1f, -1},    {0x7f, -1},   {0x85, -1},   {0x9f, -1},
	           {0xa0, 1},    {0x300, 0},   {0x36f, 0},    {0x1ab0, 0},  {0x1dc0, 0},  {0x20d0, 0},
	           {0xfe20, 0},  {0x200b, 0},  {0x200d, 0},   {0x2060, 0},  {0xfe0f, 0},  {0xe0100, 0},
	           {0x1160, 0},  {0x11ff, 0},  {0x1100, 2},   {0x3042, 2},  {0x4e00, 2},  {0x9fff, 2},
	           {0xac00, 2},  {0xd7a3, 2},  {0xff01, 2},   {0xffe6, 2},  {0x1f600, 2}, {0x1f680, 2},
	           {0x1f9d0, 2}, {0x1fa70, 2}, {0x20000, 2},  {0x30000, 2}, {0x3099, 0},  {0x303f, 1},
	           {0x2e7f, 1},  {0xff61, 1},  {0x10ffff, 1}, {0xfffd, 1},  {0x41f, 1},   {0x1f650, 1}};
	for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
		int w = text_cp_width(cps[i].cp);
		result("text_cp_width", w == cps[i].w, "U+%04X: %d, want %d", (unsigned)cps[i].cp, w,
		       cps[i].w);
	}
	static const char *const bad[] = {
	    "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80",
	    "\x80",     "\xe2\x82",     "\xc3"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint32_t cp = 0;
		size_t l = text_decode(bad[i], strlen(bad[i]), &cp);
		result("text_decode_invalid", l == 1 && cp == 0xfffd, "case %zu: %zu bytes, U+%04X", i, l,
		       (unsigned)cp);
	}
	uint32_t cp = 0;
	size_t l = text_decode("\xf0\x9f\x98\x80!", 5, &cp);
	result("text_decode_4", l == 4 && cp == 0x1f600, "%zu U+%X", l, (unsigned)cp);
	l = text_decode("\xc3\xa9", 2, &cp);
	result("text_decode_2", l == 2 && cp == 0xe9, "%zu U+%X", l, (unsigned)cp);
	l = text_decode("\xf4\x8f\xbf\xbf", 4, &cp);
	result("text_decode_max", l == 4 && cp == 0x10ffff, "%zu U+%X", l, (unsigned)cp);

	/* "e" + two combining marks, "日", an invalid byte, "x" */
	const char *s = "e\xcc\x81\xcc\xa7\xe6\x97\xa5\xff"
	                "x";
	size_t n = strlen(s);
	size_t fwd[8], nf = 0, back[8], nb = 0;
	for (size_t o = 0; o < n && nf < 8; o = text_next(s, n, o))
		fwd[nf++] = o;
	for (size_t o = n; o > 0 && nb < 8;) {
		o = text_prev(s, n, o);
		back[nb++] = o;
	}
	int same = nf == 4 && nb == 4;
	for (size_t i = 0; same && i < nf; i++)
		same = fwd[i] == back[nf - 1 - i];
	result("text_next_prev", same && fwd[1] == 5 && fwd[2] == 8 && fwd[3] == 9,
	       "%zu forward, %zu back: 0 %zu %zu %zu", nf, nb, nf > 1 ? fwd[1] : 0, nf > 2 ? fwd[2] : 0,
	       nf > 3 ? fwd[3] : 0);
	result("text_next_end", text_next(s, n, n) == n && text_prev(s, n, 0) == 0, "ends");
	/* marks with no base: one character */
	result("text_next_leading_mark",
	       text_next("\xcc\x81\xcc\x81"
	                 "a",
	                 5, 0) == 4 &&
	           text_prev("\xcc\x81\xcc\x81"
	                     "a",
	                     5, 4) == 0,
	       "marks before any letter");
	result("text_prev_cut", text_prev("a\xe2\x82", 3, 3) == 2 && text_prev("a\xe2\x82", 3, 2) == 1,
	       "a cut sequence steps back a byte at a time");

	struct {
		const char *s;
		size_t cols;
		const char *rows; /* rows joined by '|' */
	} wraps[] = {
	    {"hello world foo", 11, "hello world|foo"},
	    {"hello world foo", 10, "hello|world foo"},
	    {"hello world foo", 5, "hello|world|foo"},
	    {"abcdefghij", 4, "abcd|efgh|ij"},
	    {"ab\ncd", 10, "ab|cd"},
	    {"ab\n\ncd", 10, "ab||cd"},
	    {"\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 5, "\xe6\x97\xa5\xe6\x97\xa5|\xe6\x97\xa5"},
	    {"a\xe6\x97\xa5\xe6\x97\xa5", 4, "a\xe6\x97\xa5|\xe6\x97\xa5"},
	    {"ab \xe6\x97\xa5\xe6\x97\xa5", 4, "ab|\xe6\x97\xa5\xe6\x97\xa5"},
	    {"e\xcc\x81"
	     "e\xcc\x81"
	     "e\xcc\x81",
	     2,
	     "e\xcc\x81"
	     "e\xcc\x81|e\xcc\x81"},
	    {"x verylongword", 4, "x|very|long|word"},
	    {"abc", 3, "abc"},
	    {"", 3, ""},
	};
	for (size_t i = 0; i < sizeof wraps / sizeof wraps[0]; i++) {
		char got[128] = "";
		size_t at = 0, len = strlen(wraps[i].s), rows = 0, wmax = 0;
		const char *t = wraps[i].s;
		while (at < len && rows < 20) {
			size_t w, skip, r = text_wrap(t + at, len - at, wraps[i].cols, &w, &skip);
			if (r + skip == 0 || w > wraps[i].cols || w != text_width(t + at, r))
				break;
			if (w > wmax)
				wmax = w;
			size_t g = strlen(got);
			snprintf(got + g, sizeof got - g, "%s%.*s", rows ? "|" : "", (int)r, t + at);
			at += r + skip;
			rows++;
		}
		result("text_wrap", at == len && strcmp(got, wraps[i].rows) == 0 && wmax <= wraps[i].cols,
		       "case %zu: '%s' (stopped at %zu of %zu)", i, got, at, len);
	}
}

/* term_key over s (all of it, final), as "KIND[:x]" words joined by ' ' */
static void keys_of(const char *s, size_t n, char *out, size_t cap)
{
	static const char *const names[] = {"TEXT",   "ENTER", "TAB",  "BS",  "DEL",    "LEFT",   "RIGHT",
	                                    "UP",     "DOWN",  "HOME", "END", "PGUP",   "PGDN",   "CLEFT",
	                                    "CRIGHT", "CTRL",  "ALT",  "ESC", "PASTE(", "PASTE)", "IGNORED"};
	size_t at = 0;
	out[0] = '\0';
	while (at < n) {
		struct term_key k;
		size_t used = term_key(s + at, n - at, 1, &k);
		size_t o = strlen(out);
		if (used == 0 || used > n - at) {
			snprintf(out + o, cap - o, "%sSTUCK", o ? " " : "");
			return;
		}
		if (k.type == TERM_K_TEXT)
			snprintf(out + o, cap - o, "%s%.*s", o ? " " : "", (int)k.len, k.text);
		else if (k.type == TERM_K_CTRL || k.type == TERM_K_ALT)
			snprintf(out + o, cap - o, "%s%s:%c", o ? " " : "", names[k.type], k.c);
		else
			snprintf(out + o, cap - o, "%s%s", o ? " " : "", names[k.type]);
		at += used;
	}
}

static void test_term_key(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"ab", "a b"},
	    {"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80", "\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"},
	    {"\r\n\t\x7f\x08", "ENTER ENTER TAB BS BS"},
	    {"\x01\x05\x0b\x15\x17\x03\x04\x0c\x0e\x10\x1a",
	     "CTRL:a CTRL:e CTRL:k CTRL:u CTRL:w CTRL:c CTRL:d CTRL:l CTRL:n CTRL:p CTRL:z"},
	    {"\x1c\x1d\x1e\x1f", "IGNORED IGNORED IGNORED IGNORED"},
	    {"\x1b[A\x1b[B\x1b[C\x1b[D", "UP DOWN RIGHT LEFT"},
	    {"\x1bOA\x1bOB\x1bOC\x1bOD\x1bOH\x1bOF", "UP DOWN RIGHT LEFT HOME END"},
	    {"\x1b[H\x1b[F\x1b[1~\x1b[7~\x1b[4~\x1b[8~", "HOME END HOME HOME END END"},
	    {"\x1b[3~\x1b[5~\x1b[6~", "DEL PGUP PGDN"},
	    {"\x1b[1;5C\x1b[1;5D\x1b[1;3C", "CRIGHT CLEFT CRIGHT"},
	    {"\x1b[1;2A\x1b[1;5A", "UP UP"},
	    {"\x1b[200~hi\x1b[201~", "PASTE( h i PASTE)"},
	    {"\x1b"
	     "b\x1b"
	     "f\x1b"
	     "1",
	     "ALT:b ALT:f ALT:1"},
	    {"\x1b\x1b[A", "ESC UP"},
	    {"\x1b\x01", "ESC CTRL:a"},
	    {"\x1b\xc3\xa9", "ESC \xc3\xa9"},
	    {"\x1b[?1;2c"
	     "x",
	     "IGNORED x"},
	    {"\x1b[15~\x1b[2~\x1b[99Zx", "IGNORED IGNORED IGNORED x"},
	    {"\x1bOP\x1b[[A", "IGNORED IGNORED"},
	    {"\x1b", "ESC"},
	    {"\x1b[", "ALT:["},
	    {"\x1bO", "ALT:O"},
	    {"\x80\xff\xc0\xaf"
	     "a",
	     "IGNORED IGNORED IGNORED IGNORED a"},
	    {"\xed\xa0\x80", "IGNORED IGNORED IGNORED"},
	    {"\xc2\x85", "IGNORED"},
	    {"\xe6\x97", "IGNORED IGNORED"},
	};
	char got[256];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		keys_of(cases[i].in, strlen(cases[i].in), got, sizeof got);
		result("term_key", strcmp(got, cases[i].want) == 0, "case %zu: '%s', want '%s'", i, got,
		       cases[i].want);
	}
	char nul[2] = {0, 'a'};
	keys_of(nul, 2, got, sizeof got);
	result("term_key_nul", strcmp(got, "IGNORED a") == 0, "'%s'", got);

	/* split reads: every proper prefix of a key waits (0) unless final */
	static const char *const whole[] = {"\x1b[A",       "\x1b[1;5C",        "\x1b[200~", "\x1bOH",
	                                    "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xc3\xa9",  "\x1b[3~"};
	for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
		size_t n = strlen(whole[i]);
		int ok = 1;
		struct term_key k;
		for (size_t p = 1; p < n; p++)
			ok = ok && term_key(whole[i], p, 0, &k) == 0;
		ok = ok && term_key(whole[i], n, 0, &k) == n;
		result("term_key_split", ok, "case %zu", i);
	}
	struct term_key k;
	result("term_key_esc_wait",
	       term_key("\x1b", 1, 0, &k) == 0 && term_key("\x1b", 1, 1, &k) == 1 && k.type == TERM_K_ESC,
	       "a lone ESC waits, then is Escape");
	result("term_key_cut_utf8_final", term_key("\xe6\x97", 2, 1, &k) == 1 && k.type == TERM_K_IGNORED,
	       "a cut character at the end is skipped a byte at a time");
	result("term_key_bad_prefix",
	       term_key("\xe6"
	                "a",
	                2, 0, &k) == 1 &&
	           k.type == TERM_K_IGNORED,
	       "a lead byte followed by ASCII does not wait");
	char longcsi[64] = "\x1b[";
	memset(longcsi + 2, '1', 40);
	size_t u = term_key(longcsi, 42, 0, &k);
	result("term_key_endless_csi", u == 32 && k.type == TERM_K_IGNORED, "used %zu", u);
	u = term_key(longcsi, 10, 0, &k);
	result("term_key_csi_waits", u == 0, "used %zu", u);
}

/* raw mode and its undoing on a pty */
static void test_term_raw(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	int s = -1;
	if (m >= 0 && grantpt(m) == 0 && unlockpt(m) == 0) {
		const char *name = ptsname(m);
		if (name != NULL)
			s = open(name, O_RDWR | O_NOCTTY);
	}
	if (s < 0) {
		result("term_raw_pty", 0, "no pty: %s", strerror(errno));
		if (m >= 0)
			close(m);
		return;
	}
	struct termios before, during, after;
	tcgetattr(s, &before);
	int rc = term_raw(s);
	tcgetattr(s, &during);
	result("term_raw",
	       rc == 0 && !(during.c_lflag & (ECHO | ICANON | ISIG | IEXTEN)) &&
	           !(during.c_iflag & (ICRNL | IXON)) && !(during.c_oflag & OPOST) &&
	           during.c_cc[VMIN] == 1 && during.c_cc[VTIME] == 0,
	       "rc %d lflag %#x", rc, (unsigned)during.c_lflag);
	result("term_screen", term_screen(s) == 0, "%s", strerror(errno));
	term_restore();
	term_restore(); /* idempotent */
	tcgetattr(s, &after);
	result("term_restore",
	       after.c_lflag == before.c_lflag && after.c_iflag == before.c_iflag &&
	           after.c_oflag == before.c_oflag,
	       "lflag %#x, was %#x", (unsigned)after.c_lflag, (unsigned)before.c_lflag);
	char out[256];
	size_t got = 0;
	struct pollfd pf = {.fd = m, .events = POLLIN};
	while (got < sizeof out - 1 && poll(&pf, 1, 200) > 0) {
		ssize_t r = read(m, out + got, sizeof out - 1 - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	out[got] = '\0';
	const char *enter = strstr(out, "\x1b[?1049h\x1b[?2004h"), *leave = strstr(out, "\x1b[?1049l");
	result("term_screen_sequences",
	       enter && leave && leave > enter && strstr(out, "\x1b[?2004l") && strstr(out, "\x1b[?25h") &&
	           strstr(out, "\x1b[0m") && strstr(leave + 1, "\x1b[?1049l") == NULL,
	       "wrote %zu bytes", got);

	struct winsize ws = {.ws_row = 40, .ws_col = 132};
	ioctl(s, TIOCSWINSZ, &ws);
	unsigned rows = 0, cols = 0;
	rc = term_size(s, &rows, &cols);
	result("term_size", rc == 0 && rows == 40 && cols == 132, "%d %ux%u", rc, rows, cols);
	int dn = open("/dev/null", O_RDONLY);
	rc = term_size(dn, &rows, &cols);
	result("term_size_default", rc == -1 && rows == 24 && cols == 80, "%d %ux%u", rc, rows, cols);
	close(dn);

	/* a crash: the child's terminal comes back before the signal kills it */
	pid_t pid = fork();
	if (pid == 0) {
		if (term_raw(s) < 0)
			_exit(3);
		abort();
	}
	int st = 0;
	waitpid(pid, &st, 0);
	tcgetattr(s, &after);
	result("term_restore_on_crash",
	       WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && after.c_lflag == before.c_lflag &&
	           after.c_oflag == before.c_oflag,
	       "status %#x, lflag %#x (was %#x)", st, (unsigned)after.c_lflag, (unsigned)before.c_lflag);
	close(s);
	close(m);
}

static const char *const edit_names[] = {"alice",         "albert", "bob", "\xc3\xa9lo\xc3\xafse",
                                         "\xc3\xa9lodie", NULL};
static const char *const edit_cmds[] = {"/open", "/quit", "/query", "/add", NULL};

static const char *edit_cands(void *arg, int command, size_t i)
{
	int *calls = arg;
	(*calls)++;
	const char *const *list = command ? edit_cmds : edit_names;
	for (size_t k = 0; k <= i; k++)
		if (list[k] == NULL)
			return NULL;
	return list[i];
}

/* 1 if e's line is s with the cursor at byte cur */
static int line_is(const struct edit *e, const char *s, size_t cur)
{
	return e->len == strlen(s) && strcmp(e->buf, s) == 0 && e->cur == cur;
}

static void test_edit(void)
{
	struct edit *e = malloc(sizeof *e);
	int calls = 0;
	if (e == NULL)
		return;
	edit_init(e, edit_cands, &calls);
	size_t r = edit_insert(e, "h\x01\x1bl\x7f\xc2\x85o\r\n\xff\xc0\xaf\t", 14);
	result("edit_filters_controls", r == 3 && line_is(e, "hlo", 3), "%zu '%s'", r, e->buf);
	edit_key(e, EDIT_LEFT);
	edit_key(e, EDIT_LEFT);
	edit_insert(e, "e", 1);
	result("edit_insert_middle", line_is(e, "helo", 2), "'%s' at %zu", e->buf, e->cur);
	edit_key(e, EDIT_RIGHT);
	edit_insert(e, "l", 1);
	result("edit_arrows", line_is(e, "hello", 4), "'%s' at %zu", e->buf, e->cur);
	result("edit_home_end",
	       edit_key(e, EDIT_HOME) == 1 && e->cur == 0 && edit_key(e, EDIT_HOME) == 0 &&
	           edit_key(e, EDIT_LEFT) == 0 && edit_key(e, EDIT_END) == 1 && e->cur == 5 &&
	           edit_key(e, EDIT_RIGHT) == 0 && edit_key(e, EDIT_DELETE) == 0,
	       "at %zu", e->cur);
	edit_clear(e);

	/* by character: wide, combining, emoji */
	const char *u = "a\xe6\x97\xa5"
	                "e\xcc\x81\xf0\x9f\x98\x80";
	edit_insert(e, u, strlen(u));
	edit_key(e, EDIT_BACKSPACE);
	result("edit_backspace_emoji",
	       line_is(e,
	               "a\xe6\x97\xa5"
	               "e\xcc\x81",
	               7),
	       "'%s'", e->buf);
	edit_key(e, EDIT_BACKSPACE);
	result("edit_backspace_combining", line_is(e, "a\xe6\x97\xa5", 4), "'%s'", e->buf);
	edit_key(e, EDIT_LEFT);
	result("edit_left_wide", e->cur == 1, "at %zu", e->cur);
	edit_key(e, EDIT_DELETE);
	result("edit_delete_wide", line_is(e, "a", 1), "'%s' at %zu", e->buf, e->cur);
	edit_clear(e);
	edit_insert(e, "e\xcc\x81x", 4);
	edit_key(e, EDIT_HOME);
	edit_key(e, EDIT_RIGHT);
	result("edit_right_combining", e->cur == 3, "at %zu", e->cur);
	edit_key(e, EDIT_HOME);
	edit_key(e, EDIT_DELETE);
	result("edit_delete_combining", line_is(e, "x", 0), "'%s'", e->buf);
	/* a mark typed at the start joins what follows: the cursor stays on a boundary */
	edit_insert(e, "\xcc\x81", 2);
	edit_key(e, EDIT_HOME);
	edit_insert(e, "a", 1);
	result("edit_mark_boundary", e->cur == 3 && strcmp(e->buf, "a\xcc\x81x") == 0, "'%s' at %zu", e->buf,
	       e->cur);
	edit_clear(e);

	/* words and kills */
	edit_insert(e, "one two  three", 14);
	edit_key(e, EDIT_WORD_LEFT);
	result("edit_word_left", e->cur == 9, "at %zu", e->cur);
	edit_key(e, EDIT_WORD_LEFT);
	result("edit_word_left2", e->cur == 4, "at %zu", e->cur);
	edit_key(e, EDIT_WORD_RIGHT);
	result("edit_word_right", e->cur == 7, "at %zu", e->cur);
	edit_key(e, EDIT_KILL_WORD);
	result("edit_kill_word", line_is(e, "one   three", 4), "'%s' at %zu", e->buf, e->cur);
	edit_key(e, EDIT_KILL_END);
	result("edit_kill_end", line_is(e, "one ", 4), "'%s'", e->buf);
	edit_key(e, EDIT_KILL_WORD);
	result("edit_kill_word_spaces", line_is(e, "", 0), "'%s'", e->buf);
	edit_insert(e, "abc def", 7);
	edit_key(e, EDIT_LEFT);
	edit_key(e, EDIT_KILL_START);
	result("edit_kill_start", line_is(e, "f", 0), "'%s'", e->buf);
	result("edit_nothing_to_kill",
	       edit_key(e, EDIT_KILL_START) == 0 && edit_key(e, EDIT_BACKSPACE) == 0 &&
	           edit_key(e, EDIT_KILL_WORD) == 0,
	       "a no-op says 0");
	edit_clear(e);

	/* the bound, by whole characters */
	char big[EDIT_MAX + 10];
	memset(big, 'x', sizeof big);
	r = edit_insert(e, big, EDIT_MAX - 1);
	r += edit_insert(e, "\xe6\x97\xa5", 3);
	result("edit_max_wide", r == EDIT_MAX - 1 && e->len == EDIT_MAX - 1, "%zu bytes", e->len);
	r = edit_insert(e, "e\xcc\x81", 3);
	result("edit_max_combining", r == 0 && e->len == EDIT_MAX - 1, "inserted %zu, %zu bytes", r, e->len);
	r = edit_insert(e, "yz", 2);
	result("edit_max_ascii", r == 1 && e->len == EDIT_MAX && e->buf[EDIT_MAX] == '\0', "%zu", r);
	edit_clear(e);
	r = edit_insert(e, big, sizeof big);
	result("edit_max_paste", r == EDIT_MAX && e->len == EDIT_MAX, "%zu", r);
	edit_clear(e);

	/* history: newest last, the draft kept, entries edited as copies */
	char out[EDIT_MAX + 1];
	edit_insert(e, "first", 5);
	edit_take(e, out, sizeof out);
	edit_insert(e, "second", 6);
	size_t took = edit_take(e, out, sizeof out);
	result("edit_take",
	       took == 6 && strcmp(out, "second") == 0 && e->len == 0 && e->cur == 0 && e->nhist == 2,
	       "%zu '%s' %zu", took, out, e->nhist);
	edit_insert(e, "second", 6);
	edit_take(e, out, sizeof out);
	edit_take(e, out, sizeof out);
	result("edit_history_no_dups_or_empty", e->nhist == 2, "%zu entries", e->nhist);
	edit_insert(e, "draft", 5);
	result("edit_up", edit_key(e, EDIT_UP) == 1 && line_is(e, "second", 6), "'%s'", e->buf);
	edit_key(e, EDIT_UP);
	result("edit_up2", line_is(e, "first", 5) && edit_key(e, EDIT_UP) == 0, "'%s'", e->buf);
	edit_key(e, EDIT_BACKSPACE);
	result("edit_history_copy", strcmp(e->hist[0], "first") == 0 && line_is(e, "firs", 4), "'%s' '%s'",
	       e->hist[0], e->buf);
	edit_key(e, EDIT_DOWN);
	result("edit_down", line_is(e, "second", 6), "'%s'", e->buf);
	edit_key(e, EDIT_DOWN);
	result("edit_down_draft", line_is(e, "draft", 5) && edit_key(e, EDIT_DOWN) == 0, "'%s'", e->buf);
	edit_clear(e);
	for (int i = 0; i < EDIT_HISTORY + 5; i++) {
		char l[16];
		int n = snprintf(l, sizeof l, "line %d", i);
		edit_insert(e, l, (size_t)n);
		edit_take(e, out, sizeof out);
	}
	result("edit_history_bound",
	       e->nhist == EDIT_HISTORY && strcmp(e->hist[0], "line 5") == 0 &&
	           strcmp(e->hist[EDIT_HISTORY - 1], "line 104") == 0,
	       "%zu, oldest '%s'", e->nhist, e->hist[0]);

	/* secret: never in history, never shown */
	e->secret = 1;
	edit_insert(e, "hunter2", 7);
	size_t from = 9, len = 9, col = 9;
	edit_view(e, 80, &from, &len, &col);
	result("edit_secret_view", from == 0 && len == 0 && col == 0, "%zu %zu %zu", from, len, col);
	result("edit_secret_no_history", edit_key(e, EDIT_UP) == 0 && edit_key(e, EDIT_TAB) == 0, "browsed");
	took = edit_take(e, out, sizeof out);
	result("edit_secret_take",
	       took == 7 && strcmp(out, "hunter2") == 0 && e->nhist == EDIT_HISTORY &&
	           strcmp(e->hist[EDIT_HISTORY - 1], "line 104") == 0 &&
	           memchr(e->buf, 'h', sizeof e->buf) == NULL,
	       "%zu", took);
	e->secret = 0;

	/* Tab */
	edit_insert(e, "/o", 2);
	int tr = edit_key(e, EDIT_TAB);
	result("edit_tab_command", tr == 1 && line_is(e, "/open ", 6), "%d '%s'", tr, e->buf);
	edit_insert(e, "b", 1);
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_name", tr == 1 && line_is(e, "/open bob ", 10), "%d '%s'", tr, e->buf);
	edit_clear(e);
	edit_insert(e, "hi al", 5);
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_several",
	       tr == 2 && line_is(e, "hi al", 5) && strcmp(e->matches, "alice albert") == 0, "%d '%s' [%s]",
	       tr, e->buf, e->matches);
	edit_clear(e);
	edit_insert(e, "/q", 2);
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_common_prefix",
	       tr == 2 && line_is(e, "/qu", 3) && strcmp(e->matches, "/quit /query") == 0, "%d '%s' [%s]", tr,
	       e->buf, e->matches);
	edit_clear(e);
	edit_insert(e, "\xc3\xa9", 2);
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_utf8_prefix", tr == 2 && line_is(e, "\xc3\xa9lo", 4), "%d '%s'", tr, e->buf);
	edit_clear(e);
	edit_insert(e, "zed", 3);
	calls = 0;
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_none", tr == 0 && line_is(e, "zed", 3) && e->matches[0] == '\0' && calls > 0,
	       "%d '%s'", tr, e->buf);
	edit_clear(e);
	edit_insert(e, "open", 4);
	tr = edit_key(e, EDIT_TAB);
	result("edit_tab_no_slash_no_commands", tr == 0, "%d '%s'", tr, e->buf);
	edit_clear(e);

	/* the view: short lines as they are; long ones scrolled, the cursor in sight */
	edit_insert(e, "hello", 5);
	edit_view(e, 10, &from, &len, &col);
	result("edit_view_short", from == 0 && len == 5 && col == 5, "%zu %zu %zu", from, len, col);
	edit_clear(e);
	memset(big, 'a', 100);
	edit_insert(e, big, 100);
	edit_view(e, 30, &from, &len, &col);
	result("edit_view_scrolled", col <= 29 && col >= 10 && from + col == 100 && len == 100 - from,
	       "%zu %zu %zu", from, len, col);
	edit_key(e, EDIT_HOME);
	edit_view(e, 30, &from, &len, &col);
	result("edit_view_home", from == 0 && col == 0 && len == 30, "%zu %zu %zu", from, len, col);
	edit_clear(e);
	/* wide characters: never split at either edge */
	for (int i = 0; i < 40; i++)
		edit_insert(e, "\xe6\x97\xa5", 3);
	int ok = 1;
	for (size_t cols = 2; cols < 40 && ok; cols++) {
		edit_key(e, EDIT_END);
		for (int step = 0; step <= 40 && ok; step++) {
			edit_view(e, cols, &from, &len, &col);
			size_t w = text_width(e->buf + from, len);
			ok = from % 3 == 0 && len % 3 == 0 && w <= cols && col <= cols - 1 &&
			     from <= e->cur && col == text_width(e->buf + from, e->cur - from) &&
			     (w >= cols - 1 || from + len == e->len);
			edit_key(e, EDIT_LEFT);
		}
	}
	result("edit_view_wide", ok, "cols: from %zu len %zu col %zu cur %zu", from, len, col, e->cur);
	edit_clear(e);
	edit_insert(e, "a", 1);
	for (int i = 0; i < 10; i++)
		edit_insert(e, "\xe6\x97\xa5", 3);
	edit_view(e, 6, &from, &len, &col);
	result("edit_view_wide_odd",
	       from >= 1 && (from - 1) % 3 == 0 && col <= 5 && text_width(e->buf + from, len) <= 6,
	       "%zu %zu %zu", from, len, col);
	edit_free(e);
	edit_free(e); /* twice is safe */
	result("edit_free", e->nhist == 0 && e->len == 0 && e->draft == NULL, "freed");
	free(e);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/im-unit.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_conf_good();
	test_tlsmem();
	test_conf_bad();
	test_conf_servers();
	test_conf_sample();
	test_conf_hostport();
	test_ini();
	test_users_codec();
	test_users_hash();
	test_tokens();
	test_pbkdf2();
	test_base64();
	test_names();
	test_frame();
	test_utf8();
	test_lan();
	test_split();
	test_online();
	test_peer_line();
	test_escape();
	test_contacts_diff();
	test_printable();
	test_printable_random();
	test_msg_id();
	test_store_pin();
	test_backoff();
	test_screen();
	test_store_tokens();
	test_ladder();
	test_reach_lines();
	test_dial_from();
	test_text();
	test_term_key();
	test_term_raw();
	test_edit();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "unit: could not remove %s\n", tmpdir);
	printf("unit: %d passed, %d failed\n", passes, failures);
	return failures ? 1 : 0;
}
