/* flood: the attacker and the measuring client of t_server_harden.sh.
 *
 * usage: flood hold [-n PER] [-t SECONDS] HOST PORT SRC...
 *          holds PER idle TCP connections (no TLS, never a byte sent) from
 *          each source address SRC, and reopens each one as soon as the
 *          server drops it. Prints "*holding N" once all N were open at the
 *          same time (or "*status ..." only, if never), then every second
 *          "*status open=N opened=M dropped=K"; exits after -t (default 60).
 *        flood login [-c COUNT] [-d MS] HOST PORT NAME PASSWORD
 *          COUNT times (default 20), one after the other: connect, TLS,
 *          LOGIN, until "OK NAME", all within MS (default 2000). Prints
 *          "*login I ok MS" or "*login I fail MS WHY" for each, then
 *          "*logins ok=X of COUNT max=MS".
 *        flood burst [-c COUNT] HOST PORT
 *          COUNT TCP connects (default 1000), each closed at once without a
 *          byte; prints "*burst N connected".
 * Exit 0, or 1 on a setup error (bad address, no source to bind). */
#include <arpa/inet.h>
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

#include "loop.h"
#include "proto.h"
#include "tls.h"

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

static struct addrinfo *resolve(const char *host, const char *port)
{
	struct addrinfo hints, *res;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		say("*error %s %s: %s", host, port ? port : "", gai_strerror(rc));
		exit(1);
	}
	return res;
}

/* A non-blocking socket connecting from src (NULL: any) to dst; -1 on error. */
static int dial(const struct addrinfo *dst, const struct addrinfo *src)
{
	int fd = socket(dst->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (src && bind(fd, src->ai_addr, src->ai_addrlen) < 0) {
		say("*error bind: %s", strerror(errno));
		exit(1);
	}
	if (connect(fd, dst->ai_addr, dst->ai_addrlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

struct slot {
	int fd, up; /* up: the connect finished */
	const struct addrinfo *src;
};

static int hold(int argc, char **argv)
{
	int per = 16, opt;
	long secs = 60;
	while ((opt = getopt(argc, argv, "n:t:")) != -1) {
		if (opt == 'n')
			per = atoi(optarg);
		else if (opt == 't')
			secs = atol(optarg);
		else
			return 2;
	}
	if (argc - optind < 3 || per < 1)
		return 2;
	struct addrinfo *dst = resolve(argv[optind], argv[optind + 1]);
	int nsrc = argc - optind - 2, n = nsrc * per;
	struct slot *sl = calloc((size_t)n, sizeof *sl);
	struct pollfd *p = calloc((size_t)n, sizeof *p);
	if (sl == NULL || p == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		sl[i].src = resolve(argv[optind + 2 + i / per], NULL);
		sl[i].fd = -1;
	}
	unsigned long long end = loop_clock() + (unsigned long long)secs * 1000, next = loop_clock() + 1000;
	long opened = 0, dropped = 0;
	int announced = 0;
	char buf[512];
	while (loop_clock() < end) {
		int open_now = 0;
		for (int i = 0; i < n; i++) {
			if (sl[i].fd < 0) {
				sl[i].fd = dial(dst, sl[i].src);
				sl[i].up = 0;
			}
			open_now += sl[i].up;
			p[i].fd = sl[i].fd;
			p[i].events = sl[i].up ? POLLIN : POLLOUT;
			p[i].revents = 0;
		}
		if (open_now == n && !announced) {
			say("*holding %d", n);
			announced = 1;
		}
		if (loop_clock() >= next) {
			say("*status open=%d opened=%ld dropped=%ld", open_now, opened, dropped);
			next += 1000;
		}
		if (poll(p, (nfds_t)n, 50) < 0 && errno != EINTR)
			return 1;
		for (int i = 0; i < n; i++) {
			if (sl[i].fd < 0 || p[i].revents == 0)
				continue;
			int err = 0;
			socklen_t el = sizeof err;
			if (!sl[i].up) {
				getsockopt(sl[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err == 0 && (p[i].revents & POLLOUT)) {
					sl[i].up = 1;
					opened++;
					continue;
				}
			} else if (recv(sl[i].fd, buf, sizeof buf, 0) > 0) {
				continue; /* whatever the server says, keep holding */
			}
			/* dropped (or the connect failed): reopen on the next pass */
			dropped += sl[i].up;
			close(sl[i].fd);
			sl[i].fd = -1;
		}
	}
	say("*status open=%d opened=%ld dropped=%ld", 0, opened, dropped);
	return 0;
}

/* One login within deadline: 0, or -1 with why set. */
static int login_once(struct tls_cfg *cfg, const struct addrinfo *dst, const char *name, const char *pw,
                      unsigned long long deadline, char *why, size_t whylen)
{
	int fd = dial(dst, NULL), rc = -1;
	struct tls *t = NULL;
	char line[PROTO_LINE_MAX], want[PROTO_NAME_MAX + 8], in[4096];
	size_t inlen = 0, off = 0;
	snprintf(why, whylen, "timeout");
	if (fd < 0) {
		snprintf(why, whylen, "connect: %s", strerror(errno));
		return -1;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	if (poll(&p, 1, (int)(deadline > loop_clock() ? deadline - loop_clock() : 0)) <= 0)
		goto out;
	int err = 0;
	socklen_t el = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		snprintf(why, whylen, "connect: %s", strerror(err));
		goto out;
	}
	if ((t = tls_new(cfg, fd)) == NULL)
		goto out;
	int hs;
	while ((hs = tls_handshake(t)) != 0) {
		if (hs == TLS_ERROR) {
			snprintf(why, whylen, "handshake: %s", tls_error(t));
			goto out;
		}
		p.events = hs == TLS_WANT_READ ? POLLIN : POLLOUT;
		if (loop_clock() >= deadline || poll(&p, 1, (int)(deadline - loop_clock())) <= 0)
			goto out;
	}
	int n = snprintf(line, sizeof line, "LOGIN %s %s\n", name, pw);
	snprintf(want, sizeof want, "OK %s", name);
	while (off < (size_t)n) {
		ssize_t w = tls_write(t, line + off, (size_t)n - off);
		if (w == TLS_WANT_READ || w == TLS_WANT_WRITE) {
			p.events = w == TLS_WANT_READ ? POLLIN : POLLOUT;
			if (loop_clock() >= deadline || poll(&p, 1, (int)(deadline - loop_clock())) <= 0)
				goto out;
			continue;
		}
		if (w < 0) {
			snprintf(why, whylen, "write: %s", tls_error(t));
			goto out;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r = tls_read(t, in + inlen, sizeof in - 1 - inlen);
		if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) {
			p.events = r == TLS_WANT_READ ? POLLIN : POLLOUT;
			if (loop_clock() >= deadline || poll(&p, 1, (int)(deadline - loop_clock())) <= 0)
				goto out;
			continue;
		}
		if (r <= 0) {
			snprintf(why, whylen, "closed: %s", r == 0 ? "by the server" : tls_error(t));
			goto out;
		}
		inlen += (size_t)r;
		in[inlen] = '\0';
		char *nl;
		while ((nl = strchr(in, '\n')) != NULL) {
			*nl = '\0';
			if (strcmp(in, want) == 0) {
				rc = 0;
				goto out;
			}
			if (strncmp(in, "ERR", 3) == 0) {
				snprintf(why, whylen, "%.100s", in);
				goto out;
			}
			inlen -= (size_t)(nl + 1 - in);
			memmove(in, nl + 1, inlen + 1);
		}
		if (inlen == sizeof in - 1)
			goto out;
	}
out:
	if (t) {
		tls_close_notify(t);
		tls_free(t);
	}
	close(fd);
	return rc;
}

static int login(int argc, char **argv)
{
	int count = 20, opt;
	long ms = 2000;
	while ((opt = getopt(argc, argv, "c:d:")) != -1) {
		if (opt == 'c')
			count = atoi(optarg);
		else if (opt == 'd')
			ms = atol(optarg);
		else
			return 2;
	}
	if (argc - optind != 4)
		return 2;
	struct addrinfo *dst = resolve(argv[optind], argv[optind + 1]);
	char err[200], why[200];
	struct tls_cfg *cfg = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, sizeof err);
	if (cfg == NULL) {
		say("*error %s", err);
		return 1;
	}
	int ok = 0;
	unsigned long long worst = 0;
	for (int i = 1; i <= count; i++) {
		unsigned long long t0 = loop_clock();
		int rc = login_once(cfg, dst, argv[optind + 2], argv[optind + 3], t0 + (unsigned long long)ms,
		                    why, sizeof why);
		unsigned long long took = loop_clock() - t0;
		worst = took > worst ? took : worst;
		if (rc == 0) {
			ok++;
			say("*login %d ok %llu", i, took);
		} else {
			say("*login %d fail %llu %s", i, took, why);
		}
	}
	say("*logins ok=%d of %d max=%llu", ok, count, worst);
	tls_cfg_free(cfg);
	return 0;
}

static int burst(int argc, char **argv)
{
	int count = 1000, opt, done = 0;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c')
			count = atoi(optarg);
		else
			return 2;
	}
	if (argc - optind != 2)
		return 2;
	struct addrinfo *dst = resolve(argv[optind], argv[optind + 1]);
	for (int i = 0; i < count; i++) {
		int fd = socket(dst->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		if (connect(fd, dst->ai_addr, dst->ai_addrlen) == 0)
			done++;
		close(fd);
	}
	say("*burst %d connected", done);
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 2;
	if (argc >= 2 && strcmp(argv[1], "hold") == 0)
		rc = hold(argc - 1, argv + 1);
	else if (argc >= 2 && strcmp(argv[1], "login") == 0)
		rc = login(argc - 1, argv + 1);
	else if (argc >= 2 && strcmp(argv[1], "burst") == 0)
		rc = burst(argc - 1, argv + 1);
	if (rc == 2)
		fprintf(stderr, "usage: flood hold [-n PER] [-t SECONDS] HOST PORT SRC...\n"
		                "       flood login [-c COUNT] [-d MS] HOST PORT NAME PASSWORD\n"
		                "       flood burst [-c COUNT] HOST PORT\n");
	return rc;
}
