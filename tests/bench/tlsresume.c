/* tlsresume: N TLS connections to an im server from one process, each
 * up to the greeting line, either full handshakes or resuming the session
 * (ticket) of a first connection; prints how many resumed and the wall
 * time. The server's CPU is what tests/bench/tls_resume.sh measures.
 *
 * usage: tlsresume full|resume N HOST PORT
 * The sockets have TCP_NODELAY, as the im client's have; TLSRESUME_NAGLE=1
 * leaves Nagle on (each handshake then waits out a delayed ACK). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls.h"

static struct tls_cfg *cfg;
static unsigned char sess[TLS_SESSION_MAX];
static ssize_t sess_len = -1;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int nodelay;

/* One connection up to "IM 1 ..."; returns 1 resumed, 0 full, -1 error. */
static int one(const struct addrinfo *ai, int offer, int keep)
{
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1;
	if (fd >= 0 && nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		perror("connect");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	struct tls *t = tls_new(cfg, fd);
	int rc = -1;
	if (t == NULL)
		goto out;
	if (offer && sess_len > 0 && tls_session_offer(t, sess, (size_t)sess_len) < 0)
		goto out;
	int h;
	while ((h = tls_handshake(t)) != 0) {
		if (h == TLS_ERROR) {
			fprintf(stderr, "handshake: %s\n", tls_error(t));
			goto out;
		}
		struct pollfd p = {fd, h == TLS_WANT_READ ? POLLIN : POLLOUT, 0};
		poll(&p, 1, 10000);
	}
	char buf[256];
	size_t have = 0;
	while (have < 4 || memchr(buf, '\n', have) == NULL) {
		ssize_t n = tls_read(t, buf + have, sizeof buf - have);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
			struct pollfd p = {fd, POLLIN, 0};
			poll(&p, 1, 10000);
			continue;
		}
		if (n <= 0 || (have += (size_t)n) == sizeof buf)
			goto out;
	}
	if (keep)
		sess_len = tls_session_save(t, sess, sizeof sess);
	rc = tls_resumed(t);
	tls_close_notify(t);
out:
	tls_free(t);
	close(fd);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 5 || (strcmp(argv[1], "full") && strcmp(argv[1], "resume"))) {
		fprintf(stderr, "usage: tlsresume full|resume N HOST PORT\n");
		return 2;
	}
	int resume = strcmp(argv[1], "resume") == 0, n = atoi(argv[2]);
	nodelay = !(getenv("TLSRESUME_NAGLE") && strcmp(getenv("TLSRESUME_NAGLE"), "1") == 0);
	struct addrinfo hints, *ai;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	char err[200];
	if (getaddrinfo(argv[3], argv[4], &hints, &ai) != 0 ||
	    (cfg = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, sizeof err)) == NULL) {
		fprintf(stderr, "tlsresume: cannot set up\n");
		return 1;
	}
	/* The session to offer comes from a connection before the count. */
	if (resume && one(ai, 0, 1) < 0)
		return 1;
	int resumed = 0, failed = 0;
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		int r = one(ai, resume, 0);
		if (r < 0)
			failed++;
		else
			resumed += r;
	}
	printf("%d connections, %d resumed, %d failed, %.3f s\n", n, resumed, failed, now_s() - t0);
	freeaddrinfo(ai);
	tls_cfg_free(cfg);
	return failed ? 1 : 0;
}
