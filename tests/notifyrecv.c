/* notifyrecv: the service manager's end of sd_notify for the tests: binds a
 * unix datagram socket and prints every datagram it receives.
 *
 * usage: notifyrecv [-l LOGFILE] [-w SECONDS] SOCKET
 *   SOCKET      a path, or "@name" for an abstract socket (what the server
 *               is given as NOTIFY_SOCKET); a path is removed at exit
 *   -l LOGFILE  with each datagram, print LOGFILE's size at the moment it
 *               arrived (so a test can tell what the server had logged
 *               before it notified)
 *   -w SECONDS  exit after this long (default 120)
 * Output, one line each, flushed: "*bound SOCKET" once listening, then per
 * datagram "pid=PID log=BYTES FIELD|FIELD|..." (the sender's pid from its
 * credentials, -1 if none came; log=-1 without -l or before LOGFILE exists;
 * the datagram's newlines shown as "|"). Exit 0 at the time limit or on
 * SIGTERM, 1 on a usage or set-up error. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void print_one(int fd, const char *logfile)
{
	char buf[4096];
	union {
		struct cmsghdr h;
		char space[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = {buf, sizeof buf - 1};
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof ctl.space;
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return;
	/* the log's size first: as near to the arrival as it gets */
	long logsize = -1;
	struct stat st;
	if (logfile && stat(logfile, &st) == 0)
		logsize = (long)st.st_size;
	long pid = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cr;
			memcpy(&cr, CMSG_DATA(c), sizeof cr);
			pid = (long)cr.pid;
		}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = '|';
		else if ((unsigned char)buf[i] < 0x20)
			buf[i] = '?';
	printf("pid=%ld log=%ld %s\n", pid, logsize, buf);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	const char *logfile = NULL;
	int secs = 120, opt;
	while ((opt = getopt(argc, argv, "l:w:")) != -1) {
		if (opt == 'l')
			logfile = optarg;
		else if (opt == 'w')
			secs = atoi(optarg);
		else
			return 1;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: notifyrecv [-l LOGFILE] [-w SECONDS] SOCKET\n");
		return 1;
	}
	const char *name = argv[optind];
	struct sockaddr_un sa;
	size_t len = strlen(name);
	if (len < 2 || len >= sizeof sa.sun_path || (name[0] != '/' && name[0] != '@')) {
		fprintf(stderr, "notifyrecv: %s: want an absolute path or @name\n", name);
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, len);
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sl) < 0) {
		fprintf(stderr, "notifyrecv: %s: %s\n", name, strerror(errno));
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	printf("*bound %s\n", name);
	fflush(stdout);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (stop || t.tv_sec - t0.tv_sec >= secs)
			break;
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) > 0)
			print_one(fd, logfile);
	}
	if (name[0] == '/')
		unlink(name);
	return 0;
}
