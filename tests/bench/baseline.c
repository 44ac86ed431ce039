/* baseline: a bare TLS server for the benchmark's comparison: the same
 * mbedTLS configuration as im's login channel (tls_cfg_new), one poll()
 * loop, handshake and nothing else; connections stay open until the
 * client closes them, so it can also hold N idle connections.
 *   baseline KEY CERT        prints "listening on 127.0.0.1:PORT"
 * With "size" instead, prints the structural mbedTLS figures. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER < 0x03000000
#include <mbedtls/ssl_internal.h> /* the record buffer sizes */
#endif

#include "tls.h"

struct bc {
	struct tls *t;
	int open;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void size_report(void)
{
	/* What mbedTLS allocates per connection, by its own build settings. */
#ifdef MBEDTLS_SSL_IN_BUFFER_LEN
	printf("ssl_context=%zu in_buf=%d out_buf=%d\n", sizeof(mbedtls_ssl_context),
	       (int)MBEDTLS_SSL_IN_BUFFER_LEN, (int)MBEDTLS_SSL_OUT_BUFFER_LEN);
#else
	printf("ssl_context=%zu in_buf=%d out_buf=%d\n", sizeof(mbedtls_ssl_context),
	       (int)MBEDTLS_SSL_IN_CONTENT_LEN, (int)MBEDTLS_SSL_OUT_CONTENT_LEN);
#endif
}

int main(int argc, char **argv)
{
	char err[256];
	if (argc == 2 && strcmp(argv[1], "size") == 0) {
		size_report();
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: baseline KEY CERT | baseline size\n");
		return 2;
	}
	struct tls_cfg *cfg = tls_cfg_new(TLS_SERVER_LOGIN, argv[1], argv[2], err, sizeof err);
	if (cfg == NULL) {
		fprintf(stderr, "baseline: %s\n", err);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_term);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 511) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "baseline: listen: %s\n", strerror(errno));
		return 1;
	}
	printf("listening on 127.0.0.1:%u\n", ntohs(sa.sin_port));
	fflush(stdout);

	size_t cap = 1024;
	struct bc *by_fd = calloc(cap, sizeof *by_fd);
	struct pollfd *pf = calloc(cap, sizeof *pf);
	if (by_fd == NULL || pf == NULL)
		return 1;
	while (!stop) {
		size_t n = 0;
		pf[n].fd = lfd;
		pf[n++].events = POLLIN;
		for (size_t fd = 0; fd < cap; fd++)
			if (by_fd[fd].t) {
				pf[n].fd = (int)fd;
				pf[n++].events = POLLIN;
			}
		if (poll(pf, n, 1000) < 0 && errno != EINTR)
			return 1;
		for (size_t i = 1; i < n; i++) {
			if (!pf[i].revents)
				continue;
			struct bc *b = &by_fd[pf[i].fd];
			int keep = 1;
			if (!b->open) {
				int rc = tls_handshake(b->t);
				if (rc == 0)
					b->open = 1;
				else if (rc != TLS_WANT_READ && rc != TLS_WANT_WRITE)
					keep = 0;
			}
			while (keep && b->open) {
				unsigned char buf[512];
				ssize_t r = tls_read(b->t, buf, sizeof buf);
				if (r == TLS_WANT_READ || r == TLS_WANT_WRITE)
					break;
				if (r <= 0)
					keep = 0; /* the client closed: done with it */
			}
			if (keep)
				continue;
			tls_free(b->t);
			b->t = NULL;
			b->open = 0;
			close(pf[i].fd);
		}
		if (pf[0].revents & POLLIN)
			for (int k = 0; k < 64; k++) {
				int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				if ((size_t)fd >= cap) {
					size_t ncap = cap;
					while (ncap <= (size_t)fd)
						ncap *= 2;
					by_fd = realloc(by_fd, ncap * sizeof *by_fd);
					pf = realloc(pf, ncap * sizeof *pf);
					if (by_fd == NULL || pf == NULL)
						return 1;
					memset(by_fd + cap, 0, (ncap - cap) * sizeof *by_fd);
					cap = ncap;
				}
				by_fd[fd].t = tls_new(cfg, fd);
				by_fd[fd].open = 0;
				if (by_fd[fd].t == NULL)
					close(fd);
			}
	}
	return 0;
}
