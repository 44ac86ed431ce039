/* net: sockets (see net.h). */
#include "net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Closes a half-made socket with errno kept, notes the failed step: -1. */
static int give_up(int fd, enum net_step *step, enum net_step failed)
{
	int e = errno;
	close(fd);
	errno = e;
	*step = failed;
	return -1;
}

static int listen_opts(struct sockaddr_storage *ss, socklen_t sl, int any, int v6only, int backlog,
                       int reuseport, enum net_step *step)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && any && errno == EAFNOSUPPORT) {
		/* No IPv6 on this box: every IPv4 address then. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		unsigned short port = ((struct sockaddr_in6 *)ss)->sin6_port;
		memset(ss, 0, sizeof *ss);
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		sl = sizeof *s4;
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		*step = NET_SOCKET;
		return -1;
	}
	int one = 1, zero = 0;
	int v6 = any ? 0 : v6only;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    (ss->ss_family == AF_INET6 && v6 >= 0 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6 ? &one : &zero, sizeof one) < 0) ||
	    bind(fd, (struct sockaddr *)ss, sl) < 0 || listen(fd, backlog) < 0)
		return give_up(fd, step, NET_BIND);
	sl = sizeof *ss;
	if (getsockname(fd, (struct sockaddr *)ss, &sl) < 0)
		return give_up(fd, step, NET_NAME);
	return fd;
}

int net_listen(struct sockaddr_storage *ss, socklen_t sl, int any, int v6only, int backlog,
               enum net_step *step)
{
	return listen_opts(ss, sl, any, v6only, backlog, 0, step);
}

int net_listen_shared(struct sockaddr_storage *ss, socklen_t sl, int any, int v6only, int backlog,
                      enum net_step *step)
{
	/* SO_REUSEPORT would let a second listener (another client of the
	 * same user on the same fixed port) bind beside the first and take a
	 * share of its connections: a port in use is refused first, by a bind
	 * without it. */
	unsigned short port = ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
	                                               : ((struct sockaddr_in6 *)ss)->sin6_port;
	if (port != 0) {
		struct sockaddr_storage probe = *ss;
		int fd = listen_opts(&probe, sl, any, v6only, 1, 0, step);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return listen_opts(ss, sl, any, v6only, backlog, 1, step);
}

int net_accept(int lfd, char *ip, size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	memset(&ss, 0, sizeof ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 && ip != NULL && net_addr_text(&ss, 1, ip, cap, NULL) < 0)
		snprintf(ip, cap, "?");
	return fd;
}

int net_dial(const struct sockaddr *sa, socklen_t sl, int nodelay, enum net_step *step)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*step = NET_SOCKET;
		return -1;
	}
	if (nodelay) {
		int on = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	}
	if (connect(fd, sa, sl) < 0 && errno != EINPROGRESS)
		return give_up(fd, step, NET_CONNECT);
	return fd;
}

int net_dial_from(const struct sockaddr_storage *local, const struct sockaddr *sa, socklen_t sl,
                  enum net_step *step)
{
	struct sockaddr_in6 mapped;
	socklen_t ll =
	    local->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	/* A dual-stack listener's port is an IPv6 socket's: an IPv4 peer is
	 * reached from it through its IPv4-mapped address. */
	if (local->ss_family == AF_INET6 && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		memset(&mapped, 0, sizeof mapped);
		mapped.sin6_family = AF_INET6;
		mapped.sin6_port = s4->sin_port;
		mapped.sin6_addr.s6_addr[10] = mapped.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&mapped.sin6_addr.s6_addr[12], &s4->sin_addr, 4);
		sa = (const struct sockaddr *)&mapped;
		sl = sizeof mapped;
	} else if (local->ss_family != sa->sa_family) {
		errno = EAFNOSUPPORT;
		*step = NET_SOCKET;
		return -1;
	}
	int fd = socket(local->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*step = NET_SOCKET;
		return -1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (const struct sockaddr *)local, ll) < 0)
		return give_up(fd, step, NET_BIND);
	if (connect(fd, sa, sl) < 0 && errno != EINPROGRESS)
		return give_up(fd, step, NET_CONNECT);
	return fd;
}

int net_connect_error(int fd, int revents)
{
	int err = 0;
	socklen_t el = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err == 0 && (revents & (POLLERR | POLLHUP)) && !(revents & POLLOUT))
		err = ECONNREFUSED;
	return err;
}

int net_addr_text(const struct sockaddr_storage *ss, int unmap, char *ip, size_t cap, unsigned *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)cap);
		if (port)
			*port = ntohs(s4->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		if (unmap && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)cap);
		if (port)
			*port = ntohs(s6->sin6_port);
		return 0;
	}
	return -1;
}

void net_hostport(char *out, size_t cap, const char *ip, unsigned port)
{
	snprintf(out, cap, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
}
