/* tcphold: holds idle TCP connections open to a listener, the slowloris
 * half of the peer-listener tests: it connects and then never sends a byte.
 *
 * usage: tcphold [-w SECONDS] [-r MS] HOST PORT N [SRC...]
 *   N          connections; the i-th is bound to SRC[i % count] (port 0),
 *              so one process can hold connections from several loopback
 *              addresses (127.0.0.2, 127.0.0.3, ...)
 *   -r MS      reopen a connection MS milliseconds after the far end
 *              closed it (default: leave it closed)
 *   -w SECONDS exit after this long (default 60)
 * Output, one line each, flushed: "*connected N" once N connects have
 * completed (counted once), "*closed K" each time the far end closes one
 * (K: how many so far), "*error WHY" for a failed connect or bind, then
 * "*done" at the end. Exit 0, or 1 on a usage or setup error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define MAXCONN 4096

struct hold {
	int fd;
	int connected;
	long long reopen_at; /* ms; 0 = not waiting */
};

static struct hold h[MAXCONN];
static struct addrinfo *dst;
static char **srcs;
static int nsrc, reopen_ms = -1;
static long nconnected, nclosed;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* Starts connection i; -1 on a bind or socket error (reported). */
static int start(int i)
{
	h[i].connected = 0;
	h[i].reopen_at = 0;
	h[i].fd = socket(dst->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h[i].fd < 0) {
		say("*error socket: %s\n", strerror(errno));
		return -1;
	}
	if (nsrc > 0) {
		struct addrinfo hints, *sa;
		memset(&hints, 0, sizeof hints);
		hints.ai_family = dst->ai_family;
		hints.ai_flags = AI_NUMERICHOST;
		const char *src = srcs[i % nsrc];
		if (getaddrinfo(src, NULL, &hints, &sa) != 0) {
			say("*error bad source address %s\n", src);
			return -1;
		}
		int rc = bind(h[i].fd, sa->ai_addr, sa->ai_addrlen);
		freeaddrinfo(sa);
		if (rc < 0) {
			say("*error bind %s: %s\n", srcs[i % nsrc], strerror(errno));
			return -1;
		}
	}
	if (connect(h[i].fd, dst->ai_addr, dst->ai_addrlen) < 0 && errno != EINPROGRESS) {
		say("*error connect: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void closed(int i)
{
	close(h[i].fd);
	h[i].fd = -1;
	say("*closed %ld\n", ++nclosed);
	if (reopen_ms >= 0)
		h[i].reopen_at = (long long)loop_clock() + reopen_ms;
}

int main(int argc, char **argv)
{
	int secs = 60, opt;
	while ((opt = getopt(argc, argv, "w:r:")) != -1) {
		if (opt == 'w')
			secs = atoi(optarg);
		else if (opt == 'r')
			reopen_ms = atoi(optarg);
		else
			return 1;
	}
	if (argc - optind < 3) {
		fprintf(stderr, "usage: tcphold [-w SECONDS] [-r MS] HOST PORT N [SRC...]\n");
		return 1;
	}
	const char *host = argv[optind], *port = argv[optind + 1];
	int n = atoi(argv[optind + 2]);
	srcs = argv + optind + 3;
	nsrc = argc - optind - 3;
	if (n < 1 || n > MAXCONN) {
		fprintf(stderr, "tcphold: N must be 1..%d\n", MAXCONN);
		return 1;
	}
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &dst) != 0) {
		fprintf(stderr, "tcphold: bad address %s port %s\n", host, port);
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (start(i) < 0)
			return 1;
	static struct pollfd pfd[MAXCONN];
	static int idx[MAXCONN];
	long long end = (long long)loop_clock() + (long long)secs * 1000;
	int all_said = 0;
	while ((long long)loop_clock() < end) {
		int np = 0;
		long long t = (long long)loop_clock(), wait = end - t;
		for (int i = 0; i < n; i++) {
			if (h[i].fd < 0) {
				if (h[i].reopen_at && h[i].reopen_at <= t) {
					if (start(i) < 0)
						return 1;
				} else {
					if (h[i].reopen_at && h[i].reopen_at - t < wait)
						wait = h[i].reopen_at - t;
					continue;
				}
			}
			pfd[np].fd = h[i].fd;
			pfd[np].events = h[i].connected ? POLLIN : POLLOUT;
			idx[np++] = i;
		}
		if (wait > 200)
			wait = 200;
		if (poll(pfd, (nfds_t)np, (int)wait) < 0 && errno != EINTR)
			return 1;
		for (int j = 0; j < np; j++) {
			int i = idx[j];
			if (pfd[j].revents == 0)
				continue;
			if (!h[i].connected) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(h[i].fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0) {
					say("*error connect: %s\n", strerror(err));
					closed(i);
					continue;
				}
				h[i].connected = 1;
				if (++nconnected == n && !all_said) {
					all_said = 1;
					say("*connected %d\n", n);
				}
				continue;
			}
			char buf[512];
			ssize_t r = read(h[i].fd, buf, sizeof buf);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				closed(i);
		}
	}
	say("*done\n");
	return 0;
}
