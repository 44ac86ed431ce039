/* peerprobe: a scriptable peer-channel endpoint built on the project's
 * loop, conn and tls modules, for the client tests: an impostor or a
 * non-contact dialing a client's peer port, or a listener presenting a key
 * other than the one the server announced.
 *
 * usage: peerprobe [-w SECONDS] [-n] [-H] [-k] [-p PORT] dial KEY CERT HOST PORT NAME [LINE...]
 *        peerprobe [-w SECONDS] [-s] [-u LINE] [-p PORT] listen KEY CERT NAME [LINE...]
 *   KEY/CERT   the identity to present; generated when KEY does not exist
 *   -n         dial presenting no certificate at all (KEY/CERT unused)
 *   -H         dial without saying "IM 1 NAME" first (LINEs only)
 *   -k         keep a copy of the socket open until -w runs out, so the far
 *              end never sees our end close (a peer that will not go)
 *   dial       connects, sends "IM 1 NAME", then each LINE
 *   listen     prints "*port N", takes one connection, sends each LINE
 *              (so it can play a login server), answers a hello with
 *              "IM 1 NAME"
 *   -s         (listen) also answer what a logged-in client sends, as a
 *              login server would: OK to PEER, CONTACTS, ADD and DEL,
 *              PONG to PING, BYE to LOGOUT
 *   -u LINE    (with -s) answer a PUNCH with OK, then LINE (the relayed
 *              PUNCH a 1.1 server would send); an "ERR ..." LINE alone
 *   -p PORT    (listen) on this port rather than any free one, so a
 *              client can come back to "the same server"; (dial) from
 *              127.0.0.1 port PORT (SO_REUSEADDR), as the far end of a
 *              punch does
 * Output, flushed: "*open KEYHEX" (the peer's key) after the handshake,
 * "< LINE" per line received, "*closed WHY" at the end, "*timeout" when
 * -w (default 10) passes first. Exit 0, or 1 on a setup error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "loop.h"
#include "tls.h"

static struct loop *loop;
static struct tls_cfg *cfg;
static const char *name;
static char **lines;
static int nlines, listening, nocert, nohello, keep, keepfd = -1, serving, lfd = -1;
static struct loop_timer stop_t;
static const char *punchline;

static void on_open(struct conn *c)
{
	char key[PROTO_KEY_HEX + 1];
	if (tls_peer_key(c->tls, key) < 0)
		strcpy(key, "none");
	printf("*open %s\n", key);
	fflush(stdout);
	if (keep && keepfd < 0)
		keepfd = dup(c->fd);
	if (!listening && !nohello)
		conn_send(c, "IM 1 %s", name);
	for (int i = 0; i < nlines; i++)
		conn_send(c, "%s", lines[i]);
}

static void on_line(struct conn *c, char *line, size_t len)
{
	(void)len;
	printf("< %s\n", line);
	fflush(stdout);
	if (listening && strncmp(line, "IM 1 ", 5) == 0)
		conn_send(c, "IM 1 %s", name);
	else if (listening && strncmp(line, "MSG ", 4) == 0) {
		char *sp = strchr(line + 4, ' ');
		if (sp)
			*sp = '\0';
		conn_send(c, "ACK %s", line + 4);
	} else if (serving) {
		if (strncmp(line, "PEER ", 5) == 0 || strncmp(line, "CONTACTS", 8) == 0 ||
		    strncmp(line, "ADD ", 4) == 0 || strncmp(line, "DEL ", 4) == 0)
			conn_send(c, "OK");
		else if (strncmp(line, "PING", 4) == 0)
			conn_send(c, "PONG%s", line + 4);
		else if (strcmp(line, "LOGOUT") == 0)
			conn_send(c, "BYE");
		else if (punchline && strncmp(line, "PUNCH ", 6) == 0 &&
		         (strncmp(punchline, "ERR ", 4) == 0 || conn_send(c, "OK") == 0))
			conn_send(c, "%s", punchline);
	}
}

static void on_close(struct conn *c, const char *why)
{
	(void)c;
	printf("*closed %s\n", why);
	fflush(stdout);
	if (keepfd < 0)
		loop_stop(loop);
}

static const struct conn_ops ops = {on_open, on_line, NULL, on_close};

static void timeout(struct loop *l, void *arg)
{
	(void)arg;
	printf("*timeout\n");
	fflush(stdout);
	loop_stop(l);
}

static void on_accept(struct loop *l, int fd, int revents, void *arg)
{
	(void)revents;
	(void)arg;
	int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (c < 0)
		return;
	loop_del(l, fd);
	conn_new(l, c, cfg, 0, &ops, NULL, PROTO_LINE_MAX, 1 << 20);
}

int main(int argc, char **argv)
{
	int secs = 10, i = 1, lport = 0;
	char err[256];
	for (;;) {
		if (i + 1 < argc && strcmp(argv[i], "-w") == 0) {
			secs = atoi(argv[i + 1]);
			i += 2;
		} else if (i < argc && strcmp(argv[i], "-n") == 0) {
			nocert = 1;
			i++;
		} else if (i < argc && strcmp(argv[i], "-H") == 0) {
			nohello = 1;
			i++;
		} else if (i < argc && strcmp(argv[i], "-k") == 0) {
			keep = 1;
			i++;
		} else if (i + 1 < argc && strcmp(argv[i], "-p") == 0) {
			lport = atoi(argv[i + 1]);
			i += 2;
		} else if (i + 1 < argc && strcmp(argv[i], "-u") == 0) {
			punchline = argv[i + 1];
			i += 2;
		} else if (i < argc && strcmp(argv[i], "-s") == 0) {
			serving = 1;
			i++;
		} else {
			break;
		}
	}
	if (argc - i < 4) {
		fprintf(stderr, "usage: peerprobe [-w S] [-n] [-H] [-k] [-p PORT] dial KEY CERT HOST PORT "
		                "NAME [LINE...] | "
		                "[-s] [-u LINE] [-p PORT] listen KEY CERT NAME [LINE...]\n");
		return 2;
	}
	listening = strcmp(argv[i], "listen") == 0;
	const char *key = argv[i + 1], *cert = argv[i + 2];
	if (nocert && listening) {
		fprintf(stderr, "peerprobe: -n is for dial only\n");
		return 2;
	}
	if (!nocert && access(key, F_OK) < 0 && tls_keygen(key, cert, "probe", err, sizeof err) < 0) {
		fprintf(stderr, "peerprobe: %s\n", err);
		return 1;
	}
	cfg = tls_cfg_new(listening ? TLS_SERVER_PEER : TLS_CLIENT, nocert ? NULL : key, nocert ? NULL : cert,
	                  err, sizeof err);
	loop = loop_new();
	if (cfg == NULL || loop == NULL) {
		fprintf(stderr, "peerprobe: %s\n", err);
		return 1;
	}
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	if (listening) {
		name = argv[i + 3];
		lines = argv + i + 4;
		nlines = argc - i - 4;
		socklen_t sl = sizeof sa;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)lport);
		lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int one = 1;
		if (lfd >= 0)
			setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0 ||
		    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0 ||
		    loop_add(loop, lfd, POLLIN, on_accept, NULL) < 0) {
			perror("peerprobe: listen");
			return 1;
		}
		printf("*port %u\n", ntohs(sa.sin_port));
		fflush(stdout);
	} else {
		if (argc - i < 6) {
			fprintf(stderr, "peerprobe: dial needs KEY CERT HOST PORT NAME\n");
			return 2;
		}
		name = argv[i + 5];
		lines = argv + i + 6;
		nlines = argc - i - 6;
		sa.sin_port = htons((uint16_t)atoi(argv[i + 4]));
		if (inet_pton(AF_INET, argv[i + 3], &sa.sin_addr) != 1) {
			fprintf(stderr, "peerprobe: bad IPv4 address\n");
			return 2;
		}
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && lport > 0) {
			struct sockaddr_in from;
			int one = 1;
			memset(&from, 0, sizeof from);
			from.sin_family = AF_INET;
			from.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			from.sin_port = htons((uint16_t)lport);
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (bind(fd, (struct sockaddr *)&from, sizeof from) < 0) {
				perror("peerprobe: bind");
				return 1;
			}
		}
		if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)) {
			perror("peerprobe: connect");
			return 1;
		}
		if (conn_new(loop, fd, cfg, 1, &ops, NULL, PROTO_LINE_MAX, 1 << 20) == NULL)
			return 1;
	}
	loop_timer_set(loop, &stop_t, (uint64_t)secs * 1000, timeout, NULL);
	loop_run(loop);
	loop_free(loop);
	tls_cfg_free(cfg);
	if (lfd >= 0)
		close(lfd);
	return 0;
}
