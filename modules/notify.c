/* notify: readiness for a service manager, systemd's sd_notify protocol
 * without libsystemd: one datagram to the unix socket in $NOTIFY_SOCKET. */
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;
static char notify_name[sizeof notify_addr.sun_path + 1]; /* as given, for messages */
static int notify_warned; /* a failed send is logged once, until one works again */

int notify_init(void)
{
	const char *e = getenv("NOTIFY_SOCKET");
	if (e == NULL || e[0] == '\0')
		return 0;
	size_t n = strlen(e);
	/* systemd's other forms (vsock:, a relative path) are not for us. */
	if ((e[0] != '/' && e[0] != '@') || n < 2 || n >= sizeof notify_addr.sun_path) {
		log_warn("NOTIFY_SOCKET '%.120s' is not an absolute path or @abstract name (at most %zu "
		         "bytes): the service manager will not be told when the server is ready",
		         e, sizeof notify_addr.sun_path - 1);
		return -1;
	}
	memset(&notify_addr, 0, sizeof notify_addr);
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, e, n);
	if (e[0] == '@')
		notify_addr.sun_path[0] = '\0'; /* abstract: no NUL after the name */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));
	snprintf(notify_name, sizeof notify_name, "%s", e);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (notify_fd < 0) {
		log_warn("NOTIFY_SOCKET %s: cannot open a unix socket: %s: the service manager will not be "
		         "told when the server is ready",
		         notify_name, strerror(errno));
		return -1;
	}
	notify_warned = 0;
	return 1;
}

/* Sends one datagram; a full or missing receiver costs a warning, never
 * a wait or the server. */
static void notify_send(const char *msg)
{
	if (notify_fd < 0)
		return;
	if (sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	           (const struct sockaddr *)&notify_addr, notify_len) >= 0) {
		notify_warned = 0;
		return;
	}
	if (!notify_warned)
		log_warn("NOTIFY_SOCKET %s: cannot send %.*s: %s; the service manager is not told of the "
		         "server's state (the server runs on)",
		         notify_name, (int)strcspn(msg, "\n"), msg, strerror(errno));
	notify_warned = 1;
}

void notify_ready(const char *status)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld%s%.900s", (long)getpid(), status ? "\nSTATUS=" : "",
	         status ? status : "");
	notify_send(msg);
}

void notify_reloading(void)
{
	struct timespec ts;
	char msg[128];
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
	         (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	notify_send(msg);
}

void notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=shutting down");
}

void notify_free(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}
