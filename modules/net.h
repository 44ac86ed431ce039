/* net: the sockets: listening on an address and port, accepting,
 * non-blocking connect and its completion check, and socket address to
 * text. Every socket it makes is non-blocking and close-on-exec; it logs
 * nothing: a failure returns -1 with errno set and says which step failed,
 * and the caller words the error. */
#ifndef IM_NET_H
#define IM_NET_H

#include <stddef.h>
#include <sys/socket.h>

enum net_step {
	NET_SOCKET = 1, /* socket() */
	NET_BIND,       /* a socket option, bind() or listen() */
	NET_NAME,       /* getsockname() */
	NET_CONNECT,    /* connect() */
};

/* A listening socket on *ss (sl bytes; its port set). any: ss is the IPv6
 * wildcard and stands for every address: dual-stack, or every IPv4 address
 * where the box has no IPv6. v6only: IPV6_V6ONLY for a specific IPv6
 * address (1 or 0), or -1 to leave the system's default. On return *ss
 * holds the bound address (the real port when port 0 was asked). The fd,
 * or -1 with errno and *step. */
int net_listen(struct sockaddr_storage *ss, socklen_t sl, int any, int v6only, int backlog,
               enum net_step *step);

/* net_listen with SO_REUSEPORT too, so that net_dial_from can dial from
 * its port (TCP simultaneous open). A fixed port that another socket
 * listens on is still refused (EADDRINUSE), SO_REUSEPORT or not. */
int net_listen_shared(struct sockaddr_storage *ss, socklen_t sl, int any, int v6only, int backlog,
                      enum net_step *step);

/* accept4() of one connection, non-blocking. ip (NULL: not wanted) gets the
 * peer's address as text (net_addr_text, IPv4-mapped shown as IPv4), "?"
 * when it has none. The fd, or -1 with errno. */
int net_accept(int lfd, char *ip, size_t cap);

/* Starts a non-blocking connect to sa; nodelay sets TCP_NODELAY first. The
 * fd (the connect may still be under way: wait for POLLOUT, then
 * net_connect_error), or -1 with errno and *step (NET_SOCKET/NET_CONNECT). */
int net_dial(const struct sockaddr *sa, socklen_t sl, int nodelay, enum net_step *step);

/* Starts a non-blocking connect to sa from the address and port *local
 * (a net_listen_shared listener's, which the socket shares through
 * SO_REUSEADDR and SO_REUSEPORT): one side of a TCP simultaneous open. An
 * IPv4 sa from an IPv6 local address goes to its IPv4-mapped form. The
 * fd, or -1 with errno and *step (NET_SOCKET, NET_BIND, NET_CONNECT). */
int net_dial_from(const struct sockaddr_storage *local, const struct sockaddr *sa, socklen_t sl,
                  enum net_step *step);

/* After a non-blocking connect's fd polled revents: 0 when it connected,
 * else the errno value that it failed with. */
int net_connect_error(int fd, int revents);

/* The IP address of an AF_INET/AF_INET6 socket address as text, its port
 * in *port (NULL: not wanted). unmap: an IPv4-mapped IPv6 address is shown
 * as IPv4. 0, or -1 (another family; ip untouched). */
int net_addr_text(const struct sockaddr_storage *ss, int unmap, char *ip, size_t cap, unsigned *port);

/* "ip:port", or "[ip]:port" for an IPv6 address. */
void net_hostport(char *out, size_t cap, const char *ip, unsigned port);

#endif
