/* peer: benchmarks the client's peer channel (modules/peer.c over real
 * mutual TLS on loopback, two processes): MSG -> ACK round trip p50/p99,
 * then messages per second one way; and, beside it, a plain TCP ping-pong
 * of the same lines in the same run.
 * usage: peer [ROUNDTRIPS] [MESSAGES] [TEXT-BYTES]   (defaults 5000 50000 100) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "peer.h"
#include "tls.h"

static int nrt, nmsg, size;
static char *text;
static char keyhex[2][PROTO_KEY_HEX + 1];
static unsigned other_port;
static int me; /* 0 = the sender "a", 1 = the receiver "b" */
static struct loop *loop;
static struct peer *peer;
static double *rtt, t0, tput_start, tput_secs;
static unsigned long sent_count, next_id;
static int phase; /* 0 warm-up, 1 round trips, 2 throughput */
#define WARMUP 200

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int lookup(void *arg, const char *name, struct peer_contact *pc, const char **why)
{
	(void)arg;
	(void)why;
	(void)name;
	memset(pc, 0, sizeof *pc);
	strcpy(pc->ip, "127.0.0.1");
	pc->port = other_port ? other_port : 1;
	strcpy(pc->key, keyhex[!me]);
	return 0;
}

static void on_msg(void *arg, const char *name, const char *id, const char *t)
{
	(void)arg;
	(void)name;
	(void)id;
	(void)t;
}

static void on_sent(void *arg, const char *name, unsigned long id)
{
	(void)arg;
	(void)name;
	(void)id;
	double t = now_us();
	sent_count++;
	if (phase == 0) {
		if (sent_count < WARMUP)
			return;
		phase = 1;
		sent_count = 0;
	} else if (phase == 1) {
		rtt[sent_count - 1] = t - t0;
		if ((int)sent_count == nrt) {
			phase = 2;
			sent_count = 0;
			tput_start = now_us();
			for (int i = 0; i < nmsg; i++)
				peer_send(peer, "b", ++next_id, text);
			return;
		}
	} else if (phase == 2) {
		if ((int)sent_count == nmsg) {
			tput_secs = (t - tput_start) / 1e6;
			loop_stop(loop);
		}
		return;
	}
	t0 = now_us();
	peer_send(peer, "b", ++next_id, text);
}

static void on_failed(void *arg, const char *name, unsigned long id, const char *reason)
{
	(void)arg;
	fprintf(stderr, "bench: message %lu to %s failed: %s\n", id, name, reason);
	exit(1);
}

static const struct peer_ops ops = {lookup, on_msg, on_sent, on_failed, NULL, NULL, NULL, NULL};

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The plain TCP baseline: the same "MSG id text" line out, "ACK id" back. */
static void tcp_echo(int lfd)
{
	int fd = accept(lfd, NULL, NULL);
	char buf[65536];
	size_t have = 0;
	if (fd < 0)
		_exit(1);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - have);
		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			char *sp = strchr(buf + 4, ' ');
			char ack[64];
			int len = snprintf(ack, sizeof ack, "ACK %.*s\n", (int)(sp - buf - 4), buf + 4);
			if (write(fd, ack, (size_t)len) != len)
				_exit(1);
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
	}
}

static void tcp_baseline(double *out, int n)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("bench: tcp");
		exit(1);
	}
	pid_t pid = fork();
	if (pid == 0)
		tcp_echo(lfd);
	close(lfd);
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bench: tcp connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	char *line = malloc((size_t)size + 64), reply[128];
	for (int i = -WARMUP; i < n; i++) {
		int len = snprintf(line, (size_t)size + 64, "MSG %d %s\n", i + WARMUP + 1, text);
		double t = now_us();
		if (write(fd, line, (size_t)len) != len) {
			perror("bench: write");
			exit(1);
		}
		size_t got = 0;
		while (got == 0 || reply[got - 1] != '\n') {
			ssize_t r = read(fd, reply + got, sizeof reply - got);
			if (r <= 0) {
				perror("bench: read");
				exit(1);
			}
			got += (size_t)r;
		}
		if (i >= 0)
			out[i] = now_us() - t;
	}
	free(line);
	close(fd);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	nrt = argc > 1 ? atoi(argv[1]) : 5000;
	nmsg = argc > 2 ? atoi(argv[2]) : 50000;
	size = argc > 3 ? atoi(argv[3]) : 100;
	if (nrt < 10 || nmsg < 10 || size < 1 || size > 900) {
		fprintf(stderr, "usage: peer [ROUNDTRIPS>=10] [MESSAGES>=10] [TEXT-BYTES 1..900]\n");
		return 2;
	}
	text = malloc((size_t)size + 1);
	memset(text, 'x', (size_t)size);
	text[size] = '\0';
	char dir[] = "/tmp/im-bench-peer.XXXXXX", err[256], kf[2][64], cf[2][64];
	if (mkdtemp(dir) == NULL || tls_init() < 0)
		return 1;
	for (int i = 0; i < 2; i++) {
		snprintf(kf[i], sizeof kf[i], "%s/%c.key", dir, 'a' + i);
		snprintf(cf[i], sizeof cf[i], "%s/%c.crt", dir, 'a' + i);
		if (tls_keygen(kf[i], cf[i], "bench", err, sizeof err) < 0 ||
		    tls_key_fingerprint(kf[i], keyhex[i], err, sizeof err) < 0) {
			fprintf(stderr, "bench: %s\n", err);
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	log_init("bench-peer", "stderr", LOG_LVL_WARN);
	int pfd[2];
	if (pipe(pfd) < 0)
		return 1;
	pid_t pid = fork();
	me = pid == 0;
	loop = loop_new();
	struct peer_cfg pc = {"127.0.0.1", 0, kf[me], cf[me], 10000, 1024, 1 << 20, 8, 1 << 20, 8, 0, 64, {0}};
	peer = peer_new(loop, &pc, &ops, NULL, err, sizeof err);
	if (peer == NULL) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}
	peer_set_name(peer, me ? "b" : "a");
	if (me) {
		unsigned port = peer_port(peer);
		if (write(pfd[1], &port, sizeof port) != sizeof port)
			_exit(1);
		loop_run(loop);
		_exit(0);
	}
	if (read(pfd[0], &other_port, sizeof other_port) != sizeof other_port)
		return 1;
	rtt = calloc((size_t)nrt, sizeof *rtt);
	double *tcp = calloc((size_t)nrt, sizeof *tcp);
	for (int i = 0; i < WARMUP; i++)
		peer_send(peer, "b", ++next_id, text);
	loop_run(loop);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	tcp_baseline(tcp, nrt);
	qsort(rtt, (size_t)nrt, sizeof *rtt, cmp_d);
	qsort(tcp, (size_t)nrt, sizeof *tcp, cmp_d);
	int line = size + (int)strlen("MSG 12345 \n");
	printf("Peer channel, %d-byte message text (~%d-byte MSG line, 'ACK id' back), loopback, %d round "
	       "trips:\n",
	       size, line, nrt);
	printf("  im peer (mutual TLS, poll loop): p50 %7.1f us  p99 %7.1f us\n", rtt[nrt / 2],
	       rtt[nrt * 99 / 100]);
	printf("  plain TCP ping-pong, same lines: p50 %7.1f us  p99 %7.1f us\n", tcp[nrt / 2],
	       tcp[nrt * 99 / 100]);
	printf("  ratio p50 im/TCP: %.2f (aim: within 3)\n", rtt[nrt / 2] / tcp[nrt / 2]);
	printf("  one way, %d messages of %d bytes, window 64: %.0f msgs/s (%.1f MB/s of text)\n", nmsg, size,
	       nmsg / tput_secs, nmsg * (double)size / tput_secs / 1e6);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	return 0;
}
