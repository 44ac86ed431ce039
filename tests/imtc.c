/* imtc: a scriptable test client for the login channel, built on the
 * project's tls module, so shell tests can drive a real TLS session.
 *
 * usage: imtc [-i FILE] [-k] [-T] [-1] [-b RCVBUF] [-s ADDR] [-w SECONDS] HOST PORT
 *   -i FILE    follow FILE (like tail -f) for input lines instead of stdin,
 *              so a test can append commands with >>
 *   -k         print "*key HEX" (the server's key, via tls_peer_key)
 *   -T         plain TCP: never start the TLS handshake
 *   -1         offer TLS 1.1 at most (the server must refuse it)
 *   -b BYTES   SO_RCVBUF before connecting (for the never-reading client)
 *   -s ADDR    connect from this source address (e.g. 127.0.0.2: Linux
 *              loopback answers on all of 127.0.0.0/8)
 *   -w SECONDS give up after this long (default 60): prints "*timeout"
 *   -S FILE    after the handshake, save the TLS session (with its ticket)
 *              to FILE (0600)
 *   -R FILE    offer the session saved in FILE for resumption; "*tls" then
 *              ends in ", TLS session resumed" if the server took it
 *   -X OFFSET  with -R: flip the bits of the ticket's byte at OFFSET
 *              (negative: from the end) before offering it
 *   -L         no client at all: listen on HOST PORT (plain TCP, port 0 =
 *              any free one), print "*port N", then "*accept IP" for each
 *              connection, which is closed at once; until -w
 *   -B         with -L: a black hole: backlog 0, filled by one connection
 *              of its own and never accepted, so later connects get no
 *              answer at all (their SYNs are dropped) until they time out
 *
 * Output, one line each, flushed: every line the server sends, verbatim;
 * events start with '*': "*tls SUITE", "*key HEX", "*connected" (-T),
 * "*closed" (the server closed), "*handshake failed: WHY", "*error WHY".
 *
 * Input lines are sent with "\n" added, except these commands:
 *   !raw TEXT        send TEXT with C escapes (\n \r \0 \\ \xHH), no newline
 *   !long N          send a PING line of N bytes, newline included
 *   !repeat N TEXT   send TEXT N times; "%d" in it becomes 1000, 1001, ...
 *   !sleep MS        pause the input for MS milliseconds
 *   !noread          stop reading from the server from now on
 *   !quit            send close_notify and exit 0
 *   !close           close the socket abruptly and exit 0
 *   !reset           the same with a TCP RST (SO_LINGER 0): the server
 *                    sees the connection fail even while not reading
 * Exit: 0 when the server closed or on !quit, 1 on errors, 3 when the
 * handshake failed, 4 at the -w timeout. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#include "proto.h"
#include "tls.h"

/* mbedTLS 3.x marks struct fields private; 2.28 has no such macro. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

#define OUT_CAP (1024 * 1024)
#define CHUNK   16384

static int sock = -1;
static struct tls *tls;
static int plain, reading = 1;
static char outbuf[OUT_CAP];
static size_t outlen, pending;
static char inbuf[65536];
static size_t inlen;
static char cmdbuf[65536];
static size_t cmdlen;
static long repeat_left, repeat_n;
static char repeat_text[2048];
static unsigned long long pause_until;

static unsigned long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int queue(const char *p, size_t n)
{
	if (outlen + n > OUT_CAP)
		return -1;
	memcpy(outbuf + outlen, p, n);
	outlen += n;
	return 0;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

static void queue_raw(const char *s)
{
	char buf[8192];
	size_t n = 0;
	for (; *s && n < sizeof buf; s++) {
		if (*s != '\\' || s[1] == '\0') {
			buf[n++] = *s;
			continue;
		}
		s++;
		if (*s == 'n')
			buf[n++] = '\n';
		else if (*s == 'r')
			buf[n++] = '\r';
		else if (*s == '0')
			buf[n++] = '\0';
		else if (*s == 'x' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			buf[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
			s += 2;
		} else
			buf[n++] = *s;
	}
	queue(buf, n);
}

static void finish_exit(int rc)
{
	if (tls) {
		tls_close_notify(tls);
		tls_free(tls);
	}
	if (sock >= 0)
		close(sock);
	exit(rc);
}

/* Returns 1 when the command may not run yet (no room), else 0. */
static int run_command(char *line)
{
	if (strncmp(line, "!raw ", 5) == 0) {
		queue_raw(line + 5);
	} else if (strncmp(line, "!long ", 6) == 0) {
		long n = atol(line + 6);
		if (n < 6 || (size_t)n > OUT_CAP / 2)
			n = 6;
		if (outlen + (size_t)n > OUT_CAP)
			return 1;
		memcpy(outbuf + outlen, "PING ", 5);
		memset(outbuf + outlen + 5, 'x', (size_t)n - 6);
		outbuf[outlen + (size_t)n - 1] = '\n';
		outlen += (size_t)n;
	} else if (strncmp(line, "!repeat ", 8) == 0) {
		char *sp = strchr(line + 8, ' ');
		repeat_left = atol(line + 8);
		repeat_n = 0;
		snprintf(repeat_text, sizeof repeat_text, "%s", sp ? sp + 1 : "PING");
	} else if (strncmp(line, "!sleep ", 7) == 0) {
		pause_until = now_ms() + (unsigned long long)atol(line + 7);
	} else if (strcmp(line, "!noread") == 0) {
		reading = 0;
	} else if (strcmp(line, "!quit") == 0) {
		finish_exit(0);
	} else if (strcmp(line, "!close") == 0) {
		close(sock);
		exit(0);
	} else if (strcmp(line, "!reset") == 0) {
		struct linger lg = {1, 0};
		setsockopt(sock, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(sock);
		exit(0);
	} else {
		if (outlen + strlen(line) + 1 > OUT_CAP)
			return 1;
		queue(line, strlen(line));
		queue("\n", 1);
	}
	return 0;
}

/* Turns waiting input into output while there is room. */
static void pump_commands(void)
{
	while (pause_until == 0 || now_ms() >= pause_until) {
		pause_until = 0;
		if (repeat_left > 0) {
			char line[2100], *pct = strstr(repeat_text, "%d");
			if (pct)
				snprintf(line, sizeof line, "%.*s%ld%s", (int)(pct - repeat_text),
				         repeat_text, 1000 + repeat_n, pct + 2);
			else
				snprintf(line, sizeof line, "%s", repeat_text);
			if (outlen + strlen(line) + 1 > OUT_CAP / 2)
				return;
			queue(line, strlen(line));
			queue("\n", 1);
			repeat_left--;
			repeat_n++;
			continue;
		}
		char *nl = memchr(cmdbuf, '\n', cmdlen);
		if (nl == NULL)
			return;
		*nl = '\0';
		if (run_command(cmdbuf)) {
			*nl = '\n';
			return;
		}
		size_t used = (size_t)(nl - cmdbuf) + 1;
		memmove(cmdbuf, cmdbuf + used, cmdlen - used);
		cmdlen -= used;
	}
}

/* Reads what input is there; returns -1 at the end of stdin. */
static int read_input(int fd)
{
	if (cmdlen == sizeof cmdbuf)
		return 0;
	ssize_t n = read(fd, cmdbuf + cmdlen, sizeof cmdbuf - cmdlen);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	cmdlen += (size_t)n;
	return 0;
}

static void print_lines(void)
{
	size_t start = 0;
	for (size_t i = 0; i < inlen; i++)
		if (inbuf[i] == '\n') {
			fwrite(inbuf + start, 1, i - start, stdout);
			putchar('\n');
			start = i + 1;
		}
	fflush(stdout);
	memmove(inbuf, inbuf + start, inlen - start);
	inlen -= start;
	if (inlen == sizeof inbuf) {
		fwrite(inbuf, 1, inlen, stdout);
		putchar('\n');
		inlen = 0;
	}
}

static void closed(void)
{
	if (inlen) {
		fwrite(inbuf, 1, inlen, stdout);
		putchar('\n');
	}
	say("*closed");
	if (tls)
		tls_free(tls);
	close(sock);
	exit(0);
}

static void read_server(void)
{
	for (;;) {
		ssize_t n;
		if (plain) {
			n = recv(sock, inbuf + inlen, sizeof inbuf - inlen, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0 && errno == ECONNRESET)
				n = 0;
			if (n < 0) {
				say("*error %s", strerror(errno));
				exit(1);
			}
		} else {
			n = tls_read(tls, inbuf + inlen, sizeof inbuf - inlen);
			if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
				return;
			if (n == TLS_ERROR) {
				/* A reset after the server's last words is a close. */
				say("*error %s", tls_error(tls));
				closed();
			}
		}
		if (n == 0)
			closed();
		inlen += (size_t)n;
		print_lines();
	}
}

/* Writes what is queued; returns 1 while the socket wants more room. */
static int write_server(void)
{
	while (outlen > 0) {
		size_t len = pending ? pending : (outlen < CHUNK ? outlen : CHUNK);
		ssize_t n;
		if (plain) {
			n = send(sock, outbuf, len, MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 1;
			if (n < 0) {
				say("*error send: %s", strerror(errno));
				exit(1);
			}
		} else {
			n = tls_write(tls, outbuf, len);
			if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
				pending = len;
				return 1;
			}
			if (n < 0) {
				say("*error send: %s", tls_error(tls));
				exit(1);
			}
		}
		pending = 0;
		memmove(outbuf, outbuf + n, outlen - (size_t)n);
		outlen -= (size_t)n;
	}
	return 0;
}

static int dial(const char *host, const char *port, int rcvbuf, const char *src)
{
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		say("*error %s", gai_strerror(rc));
		exit(1);
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (fd >= 0 && src) {
		struct addrinfo *sa;
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		if (getaddrinfo(src, NULL, &hints, &sa) != 0) {
			say("*error bad source address %s", src);
			exit(1);
		}
		if (bind(fd, sa->ai_addr, sa->ai_addrlen) < 0) {
			say("*error bind %s: %s", src, strerror(errno));
			exit(1);
		}
		freeaddrinfo(sa);
	}
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		say("*error connect: %s", strerror(errno));
		exit(1);
	}
	freeaddrinfo(res);
	return fd;
}

/* TLS 1.1 at most, on a configuration of our own: the project's refuses
 * to build one, which is the point of the server test. */
static int old_handshake(int fd)
{
#if MBEDTLS_VERSION_NUMBER < 0x03000000 && defined(MBEDTLS_SSL_PROTO_TLS1_1)
	mbedtls_entropy_context ent;
	mbedtls_ctr_drbg_context rng;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_net_context net;
	char err[128];
	int rc;
	mbedtls_entropy_init(&ent);
	mbedtls_ctr_drbg_init(&rng);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	net.fd = fd;
	if ((rc = mbedtls_ctr_drbg_seed(&rng, mbedtls_entropy_func, &ent, NULL, 0)) != 0 ||
	    (rc = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                      MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		mbedtls_strerror(rc, err, sizeof err);
		say("*error %s", err);
		return 1;
	}
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &rng);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_1);
	mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_2);
	if ((rc = mbedtls_ssl_setup(&ssl, &conf)) != 0) {
		mbedtls_strerror(rc, err, sizeof err);
		say("*error %s", err);
		return 1;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
	while ((rc = mbedtls_ssl_handshake(&ssl)) != 0)
		if (rc != MBEDTLS_ERR_SSL_WANT_READ && rc != MBEDTLS_ERR_SSL_WANT_WRITE)
			break;
	int out;
	if (rc == 0) {
		say("*tls %s", mbedtls_ssl_get_version(&ssl));
		out = 0;
	} else {
		mbedtls_strerror(rc, err, sizeof err);
		say("*handshake failed: %s", err);
		out = 3;
	}
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_ctr_drbg_free(&rng);
	mbedtls_entropy_free(&ent);
	close(fd);
	return out;
#else
	(void)fd;
	say("*error this mbedTLS has no TLS 1.1");
	return 1;
#endif
}

static void usage(void)
{
	fprintf(stderr, "usage: imtc [-i FILE] [-k] [-T] [-1] [-b RCVBUF] [-s ADDR] [-w SECONDS] [-S FILE] "
	                "[-R FILE [-X OFFSET]] HOST PORT\n"
	                "       imtc -L [-B] [-w SECONDS] HOST PORT\n");
	exit(2);
}

/* -L: a plain TCP listener that reports who connected (a stand-in for a
 * client's peer port when the server probes it). */
static int listen_main(const char *host, const char *port, int blackhole, long wait_s)
{
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		say("*error bad address %s port %s", host, port);
		return 1;
	}
	int one = 1, lfd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, res->ai_addr, res->ai_addrlen) < 0 || listen(lfd, blackhole ? 0 : 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&ss, &sl) < 0) {
		say("*error listen on %s port %s: %s", host, port, strerror(errno));
		return 1;
	}
	freeaddrinfo(res);
	char ip[64], sv[16];
	getnameinfo((struct sockaddr *)&ss, sl, ip, sizeof ip, sv, sizeof sv,
	            NI_NUMERICHOST | NI_NUMERICSERV);
	if (blackhole) {
		/* Backlog 0 holds one connection: ours fills it for good. */
		int fill = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fill < 0 || connect(fill, (struct sockaddr *)&ss, sl) < 0) {
			say("*error filling the backlog: %s", strerror(errno));
			return 1;
		}
	}
	say("*port %s", sv);
	unsigned long long give_up = now_ms() + (unsigned long long)wait_s * 1000;
	for (;;) {
		long left = (long)(give_up - now_ms());
		if (give_up <= now_ms()) {
			say("*timeout");
			return 4;
		}
		struct pollfd p = {lfd, (short)(blackhole ? 0 : POLLIN), 0};
		if (poll(&p, 1, (int)(left > 1000 ? 1000 : left)) <= 0 || !(p.revents & POLLIN))
			continue;
		sl = sizeof ss;
		int fd = accept(lfd, (struct sockaddr *)&ss, &sl);
		if (fd < 0)
			continue;
		getnameinfo((struct sockaddr *)&ss, sl, ip, sizeof ip, sv, sizeof sv,
		            NI_NUMERICHOST | NI_NUMERICSERV);
		say("*accept %s", ip);
		close(fd);
	}
}

/* Reads the session saved in path, flips the ticket's byte at flip (when
 * do_flip) and offers it on tls. Exits on a bad file. */
static void offer_session(const char *path, int do_flip, long flip)
{
	static unsigned char buf[TLS_SESSION_MAX];
	FILE *f = fopen(path, "rb");
	size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
	if (f)
		fclose(f);
	if (len == 0) {
		say("*error cannot read session %s", path);
		exit(1);
	}
	if (do_flip) {
		mbedtls_ssl_session s;
		mbedtls_ssl_session_init(&s);
		if (mbedtls_ssl_session_load(&s, buf, len) != 0 || s.MBEDTLS_PRIVATE(ticket_len) == 0) {
			say("*error the saved session has no ticket");
			exit(1);
		}
		size_t tl = s.MBEDTLS_PRIVATE(ticket_len);
		long at = flip < 0 ? (long)tl + flip : flip;
		if (at < 0 || (size_t)at >= tl) {
			say("*error offset %ld outside the %zu-byte ticket", flip, tl);
			exit(1);
		}
		s.MBEDTLS_PRIVATE(ticket)[at] ^= 0xff;
		if (mbedtls_ssl_session_save(&s, buf, sizeof buf, &len) != 0) {
			say("*error cannot save the session again");
			exit(1);
		}
		mbedtls_ssl_session_free(&s);
	}
	if (tls_session_offer(tls, buf, len) < 0) {
		say("*error cannot offer session %s", path);
		exit(1);
	}
}

static void save_session(const char *path)
{
	static unsigned char buf[TLS_SESSION_MAX];
	ssize_t n = tls_session_save(tls, buf, sizeof buf);
	int fd = n > 0 ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	if (fd < 0 || write(fd, buf, (size_t)n) != n) {
		say("*error cannot save the session to %s", path);
		exit(1);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	const char *infile = NULL, *src = NULL, *save_to = NULL, *resume_from = NULL;
	int showkey = 0, old = 0, rcvbuf = 0, opt, do_flip = 0, listen_mode = 0, blackhole = 0;
	long wait_s = 60, flip = 0;
	while ((opt = getopt(argc, argv, "i:kT1b:s:w:S:R:X:LB")) != -1) {
		switch (opt) {
		case 'L':
			listen_mode = 1;
			break;
		case 'B':
			blackhole = 1;
			break;
		case 'S':
			save_to = optarg;
			break;
		case 'R':
			resume_from = optarg;
			break;
		case 'X':
			do_flip = 1;
			flip = atol(optarg);
			break;
		case 'i':
			infile = optarg;
			break;
		case 'k':
			showkey = 1;
			break;
		case 'T':
			plain = 1;
			break;
		case '1':
			old = 1;
			break;
		case 'b':
			rcvbuf = atoi(optarg);
			break;
		case 's':
			src = optarg;
			break;
		case 'w':
			wait_s = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (listen_mode)
		return listen_main(argv[optind], argv[optind + 1], blackhole, wait_s);
	unsigned long long give_up = now_ms() + (unsigned long long)wait_s * 1000;
	sock = dial(argv[optind], argv[optind + 1], rcvbuf, src);
	if (old)
		return old_handshake(sock);
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);

	int infd = 0, in_eof = 0;
	if (infile) {
		infd = open(infile, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
		if (infd < 0) {
			say("*error %s", strerror(errno));
			return 1;
		}
	}
	if (plain) {
		say("*connected");
	} else {
		char err[200];
		struct tls_cfg *cfg = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, sizeof err);
		if (cfg == NULL || (tls = tls_new(cfg, sock)) == NULL) {
			say("*error %s", cfg ? "out of memory" : err);
			return 1;
		}
		if (resume_from)
			offer_session(resume_from, do_flip, flip);
		int rc;
		while ((rc = tls_handshake(tls)) != 0) {
			if (rc == TLS_ERROR) {
				say("*handshake failed: %s", tls_error(tls));
				return 3;
			}
			struct pollfd p = {sock, rc == TLS_WANT_READ ? POLLIN : POLLOUT, 0};
			int left = (int)(give_up - now_ms());
			if (give_up <= now_ms() || poll(&p, 1, left) == 0) {
				say("*timeout");
				return 4;
			}
		}
		say("*tls %s", tls_describe(tls));
		if (save_to)
			save_session(save_to);
		if (showkey) {
			char hex[PROTO_KEY_HEX + 1];
			if (tls_peer_key(tls, hex) < 0)
				say("*error no server certificate");
			else
				say("*key %s", hex);
		}
	}
	for (;;) {
		if (now_ms() >= give_up) {
			say("*timeout");
			finish_exit(4);
		}
		pump_commands();
		int want_out = write_server();
		struct pollfd p[2];
		p[0].fd = sock;
		p[0].events = (short)((reading ? POLLIN : 0) | (want_out ? POLLOUT : 0));
		p[0].revents = 0;
		int np = 1;
		if (!infile && !in_eof) {
			p[1].fd = infd;
			p[1].events = POLLIN;
			p[1].revents = 0;
			np = 2;
		}
		/* A followed file cannot be polled: look again every 10 ms. */
		int tmo = infile || pause_until || repeat_left ? 10 : 1000;
		if (poll(p, (nfds_t)np, tmo) < 0 && errno != EINTR) {
			say("*error poll: %s", strerror(errno));
			return 1;
		}
		if (reading && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			read_server();
		if (infile || (np == 2 && p[1].revents))
			if (read_input(infd) < 0 && !infile)
				in_eof = 1;
	}
}
