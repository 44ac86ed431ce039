/* load: the server benchmark's load generator. One poll() loop over
 * non-blocking loopback sockets and the project's TLS module drives many
 * clients of im (LOGIN, PEER, CONTACTS), of the bare TLS server
 * (tests/bench/baseline.c) or of an MQTT broker, and prints key=value
 * figures that tests/bench/run.sh turns into the table.
 *
 *   load mkusers FILE FIRST COUNT ITERATIONS PASSWORD
 *   load rate  PORT MODE N C FIRST [PID]        handshakes/logins per second
 *   load hold  PORT MODE N1,N2,.. C FIRST PID IDLE_S   RSS per idle session
 *   load fanout PORT K REPS FIRST               presence fan-out latency
 *   load mesh PORTS N K REPS FIRST SRVPIDS RPID [IDLE_S]  presence over nodes
 * MODE is login (im), hs (bare TLS handshake) or mqtt (CONNECT/CONNACK).
 * Users are named uNNNNN; im users' password and MQTT's are "benchpass1". */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ssl.h>

#include "tls.h"
#include "users.h"

#define PASSWORD  "benchpass1"
#define PEER_KEY  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MQTT_USER "bench"

enum mode { M_LOGIN, M_HS, M_MQTT };
enum lstate { L_CONNECTING, L_HANDSHAKE, L_OPEN, L_DONE };

struct lc;
typedef void (*line_fn)(struct lc *c, const char *line);

struct lc {
	int fd, idx;
	enum lstate st;
	struct tls *t;
	char name[16];
	char in[4096];
	size_t inlen;
	char *out;
	size_t outoff, outlen, outcap, pending;
	int watch;   /* polled */
	int waiting; /* replies still expected */
	int greeted;
	int heard; /* mesh: the event round this contact last heard */
	double t0;
	line_fn on_line;
	void (*on_open)(struct lc *c);
};

static struct tls_cfg *cfg;
static unsigned short port;
static enum mode mode;
static struct lc **conns;
static size_t nconns, capconns;
static int failures;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* ---- /proc figures of the server ---- */

static long rss_kib(int pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* utime+stime of every thread of pid, in milliseconds. */
static double cpu_ms(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* ---- connections ---- */

static void lc_free(struct lc *c)
{
	if (c->st == L_DONE)
		return;
	c->st = L_DONE;
	c->watch = 0;
	tls_free(c->t);
	c->t = NULL;
	close(c->fd);
	free(c->out);
	c->out = NULL;
	c->outoff = c->outlen = c->outcap = c->pending = 0;
}

static void lc_fail(struct lc *c, const char *why)
{
	if (failures++ < 5)
		fprintf(stderr, "load: %s: %s\n", c->name, why);
	lc_free(c);
}

static struct lc *lc_open(int idx, const char *name, void (*on_open)(struct lc *), line_fn on_line)
{
	struct lc *c = calloc(1, sizeof *c);
	if (c == NULL)
		die("out of memory");
	c->idx = idx;
	snprintf(c->name, sizeof c->name, "%s", name);
	c->on_open = on_open;
	c->on_line = on_line;
	c->t0 = now_ms();
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s (raise ulimit -n)", strerror(errno));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->st = L_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	if ((c->t = tls_new(cfg, c->fd)) == NULL)
		die("tls_new: out of memory");
	c->watch = 1;
	if (nconns == capconns) {
		capconns = capconns ? capconns * 2 : 1024;
		if ((conns = realloc(conns, capconns * sizeof *conns)) == NULL)
			die("out of memory");
	}
	conns[nconns++] = c;
	return c;
}

static void lc_flush(struct lc *c)
{
	while (c->st == L_OPEN && c->outoff < c->outlen) {
		if (c->pending == 0) {
			size_t n = c->outlen - c->outoff;
			c->pending = n > 16384 ? 16384 : n;
		}
		ssize_t n = tls_write(c->t, c->out + c->outoff, c->pending);
		if (n == TLS_WANT_WRITE || n == TLS_WANT_READ)
			return;
		if (n < 0) {
			lc_fail(c, tls_error(c->t));
			return;
		}
		c->outoff += (size_t)n;
		c->pending = 0;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
}

static void lc_sendraw(struct lc *c, const void *data, size_t len)
{
	if (c->st != L_OPEN)
		return;
	if (c->outlen + len > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 256;
		while (cap < c->outlen + len)
			cap *= 2;
		if ((c->out = realloc(c->out, cap)) == NULL)
			die("out of memory");
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
	lc_flush(c);
}

static void lc_send(struct lc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void lc_send(struct lc *c, const char *fmt, ...)
{
	char line[1100];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	lc_sendraw(c, line, (size_t)n);
}

static void lc_read(struct lc *c)
{
	for (;;) {
		if (c->st != L_OPEN)
			return;
		ssize_t n = tls_read(c->t, c->in + c->inlen, sizeof c->in - c->inlen);
		if (n == TLS_WANT_READ || n == TLS_WANT_WRITE)
			return;
		if (n <= 0) {
			lc_fail(c, n == 0 ? "closed by the server" : tls_error(c->t));
			return;
		}
		c->inlen += (size_t)n;
		if (mode == M_MQTT) {
			c->on_line(c, c->in);
			c->inlen = 0;
			continue;
		}
		char *p = c->in, *nl;
		while (c->st == L_OPEN && (nl = memchr(p, '\n', c->inlen - (size_t)(p - c->in))) != NULL) {
			*nl = '\0';
			c->on_line(c, p);
			p = nl + 1;
		}
		if (c->st != L_OPEN)
			return;
		c->inlen -= (size_t)(p - c->in);
		memmove(c->in, p, c->inlen);
		if (c->inlen == sizeof c->in)
			c->inlen = 0; /* a line too long for us: drop it */
	}
}

static void lc_io(struct lc *c, short rev)
{
	if (c->st == L_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			lc_fail(c, strerror(err));
			return;
		}
		c->st = L_HANDSHAKE;
	}
	if (c->st == L_HANDSHAKE) {
		int rc = tls_handshake(c->t);
		if (rc == TLS_WANT_READ || rc == TLS_WANT_WRITE)
			return;
		if (rc < 0) {
			lc_fail(c, tls_error(c->t));
			return;
		}
		c->st = L_OPEN;
		c->on_open(c);
	}
	if (c->st == L_OPEN && (rev & POLLOUT))
		lc_flush(c);
	if (c->st == L_OPEN)
		lc_read(c);
}

static short lc_events(const struct lc *c)
{
	if (c->st == L_CONNECTING)
		return POLLOUT;
	if (c->st == L_OPEN && c->outoff < c->outlen)
		return POLLIN | POLLOUT;
	return POLLIN; /* the handshake waits on input except for its first flight */
}

/* One poll pass over the watched connections. */
static void pump(int timeout_ms)
{
	static struct pollfd *pf;
	static struct lc **who;
	static size_t cap;
	size_t n = 0;
	if (cap < nconns) {
		cap = nconns * 2;
		pf = realloc(pf, cap * sizeof *pf);
		who = realloc(who, cap * sizeof *who);
		if (pf == NULL || who == NULL)
			die("out of memory");
	}
	for (size_t i = 0; i < nconns; i++) {
		struct lc *c = conns[i];
		if (!c->watch || c->st == L_DONE)
			continue;
		pf[n].fd = c->fd;
		pf[n].events = lc_events(c);
		pf[n].revents = 0;
		who[n++] = c;
	}
	int r = poll(pf, n, timeout_ms);
	if (r < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	for (size_t i = 0; r > 0 && i < n; i++)
		if (pf[i].revents)
			lc_io(who[i], pf[i].revents);
}

/* Forgets finished connections so the array does not grow forever. */
static void reap(void)
{
	size_t m = 0;
	for (size_t i = 0; i < nconns; i++) {
		if (conns[i]->st == L_DONE)
			free(conns[i]);
		else
			conns[m++] = conns[i];
	}
	nconns = m;
}

static void user_name(char *out, size_t cap, int i)
{
	snprintf(out, cap, "u%05d", i);
}

/* ---- MQTT: one CONNECT with user and password, clean session ---- */

static void mqtt_connect(struct lc *c)
{
	unsigned char p[128];
	char id[24];
	int idlen = snprintf(id, sizeof id, "b%d", c->idx);
	size_t n = 0, ulen = strlen(MQTT_USER), plen = strlen(PASSWORD);
	size_t rem = 10 + 2 + (size_t)idlen + 2 + ulen + 2 + plen;
	p[n++] = 0x10;
	p[n++] = (unsigned char)rem; /* < 128: one length byte */
	static const unsigned char hdr[] = {0,   4, 'M',  'Q',  'T',
	                                    'T', 4, 0xC2, 0x02, 0x58}; /* keepalive 600 s */
	memcpy(p + n, hdr, sizeof hdr);
	n += sizeof hdr;
	p[n++] = 0;
	p[n++] = (unsigned char)idlen;
	memcpy(p + n, id, (size_t)idlen);
	n += (size_t)idlen;
	p[n++] = 0;
	p[n++] = (unsigned char)ulen;
	memcpy(p + n, MQTT_USER, ulen);
	n += ulen;
	p[n++] = 0;
	p[n++] = (unsigned char)plen;
	memcpy(p + n, PASSWORD, plen);
	n += plen;
	lc_sendraw(c, p, n);
}

/* ---- scenario state ---- */

static double *lat;
static size_t nlat;
static int done_count;

static void done_one(struct lc *c)
{
	lat[nlat++] = now_ms() - c->t0;
	done_count++;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_d);
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i];
}

/* rate: open, handshake (and log in), close. */
static void rate_line(struct lc *c, const char *line)
{
	if (mode == M_MQTT) {
		if ((unsigned char)line[0] == 0x20) {
			done_one(c);
			lc_free(c);
		} else {
			lc_fail(c, "no CONNACK");
		}
		return;
	}
	if (!c->greeted) {
		if (strncmp(line, "IM 1 ", 5) != 0) {
			lc_fail(c, line);
			return;
		}
		c->greeted = 1;
		lc_send(c, "LOGIN %s %s", c->name, PASSWORD);
		return;
	}
	if (strncmp(line, "OK ", 3) == 0) {
		done_one(c);
		lc_free(c);
	} else {
		lc_fail(c, line);
	}
}

static void rate_open(struct lc *c)
{
	if (mode == M_HS) {
		done_one(c);
		lc_free(c);
	} else if (mode == M_MQTT) {
		mqtt_connect(c);
	}
}

static enum mode parse_mode(const char *s)
{
	if (!strcmp(s, "login"))
		return M_LOGIN;
	if (!strcmp(s, "hs"))
		return M_HS;
	if (!strcmp(s, "mqtt"))
		return M_MQTT;
	die("unknown mode %s", s);
}

static int count_live(void)
{
	int n = 0;
	for (size_t i = 0; i < nconns; i++)
		n += conns[i]->st != L_DONE;
	return n;
}

static int cmd_rate(int argc, char **argv)
{
	if (argc < 6)
		die("usage: rate PORT MODE N C FIRST [PID]");
	port = (unsigned short)atoi(argv[1]);
	mode = parse_mode(argv[2]);
	int n = atoi(argv[3]), conc = atoi(argv[4]), first = atoi(argv[5]);
	int pid = argc > 6 ? atoi(argv[6]) : 0;
	lat = calloc((size_t)n, sizeof *lat);
	int started = 0;
	double cpu0 = pid ? cpu_ms(pid) : 0, t0 = now_ms();
	while (done_count + failures < n) {
		while (started < n && count_live() < conc) {
			char name[16];
			user_name(name, sizeof name, first + started);
			lc_open(started, name, rate_open, rate_line);
			started++;
		}
		pump(1000);
		reap();
		if (now_ms() - t0 > 120000)
			die("rate: stuck after %d of %d", done_count, n);
	}
	double el = now_ms() - t0, cpu1 = pid ? cpu_ms(pid) : 0;
	double p50 = pct(lat, nlat, 50), p99 = pct(lat, nlat, 99);
	printf("n=%d conc=%d ok=%d failed=%d secs=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f", n, conc,
	       done_count, failures, el / 1000, done_count / (el / 1000), p50, p99);
	if (pid)
		printf(" srv_cpu_ms_per_op=%.3f", (cpu1 - cpu0) / (done_count ? done_count : 1));
	printf("\n");
	return failures ? 1 : 0;
}

/* hold: sessions that log in, announce themselves, then sit idle. */
static int hold_first, hold_total;

static void hold_idle(struct lc *c)
{
	done_one(c);
	c->watch = 0; /* idle: nothing more to do; the server's news waits in the socket */
}

static void hold_line(struct lc *c, const char *line)
{
	if (mode == M_MQTT) {
		if ((unsigned char)line[0] == 0x20)
			hold_idle(c);
		else
			lc_fail(c, "no CONNACK");
		return;
	}
	if (!c->greeted) {
		c->greeted = 1;
		lc_send(c, "LOGIN %s %s", c->name, PASSWORD);
		c->waiting = 1;
		return;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		lc_fail(c, line);
		return;
	}
	if (strncmp(line, "OK", 2) != 0)
		return; /* ONLINE of a neighbour */
	if (c->waiting == 1 && c->greeted == 1) {
		/* Logged in: a peer address and two neighbours as contacts. */
		char prev[16], next[16];
		user_name(prev, sizeof prev, c->idx > hold_first ? c->idx - 1 : c->idx + 2);
		user_name(next, sizeof next, c->idx + 1);
		c->greeted = 2;
		c->waiting = 2;
		lc_send(c, "PEER %d %s", 40000 + c->idx % 20000, PEER_KEY);
		lc_send(c, "CONTACTS %s %s", prev, next);
		return;
	}
	if (--c->waiting == 0)
		hold_idle(c);
}

static void hold_open(struct lc *c)
{
	if (mode == M_HS)
		hold_idle(c);
	else if (mode == M_MQTT)
		mqtt_connect(c);
}

static void settle(int ms)
{
	double until = now_ms() + ms;
	while (now_ms() < until)
		pump((int)(until - now_ms()) + 1);
}

static int cmd_hold(int argc, char **argv)
{
	if (argc < 8)
		die("usage: hold PORT MODE N1,N2,.. C FIRST PID IDLE_S");
	port = (unsigned short)atoi(argv[1]);
	mode = parse_mode(argv[2]);
	int conc = atoi(argv[4]);
	hold_first = atoi(argv[5]);
	int pid = atoi(argv[6]), idle_s = atoi(argv[7]);
	int marks[8], nmarks = 0;
	for (char *s = strtok(argv[3], ","); s && nmarks < 8; s = strtok(NULL, ","))
		marks[nmarks++] = atoi(s);
	hold_total = marks[nmarks - 1];
	lat = calloc((size_t)hold_total, sizeof *lat);
	settle(300);
	long rss0 = rss_kib(pid);
	printf("rss0_kib=%ld\n", rss0);
	int started = 0;
	double t0 = now_ms();
	for (int m = 0; m < nmarks; m++) {
		while (done_count < marks[m]) {
			int busy = 0;
			for (size_t i = 0; i < nconns; i++)
				busy += conns[i]->watch && conns[i]->st != L_DONE;
			while (started < marks[m] && busy < conc) {
				char name[16];
				user_name(name, sizeof name, hold_first + started);
				lc_open(hold_first + started, name, hold_open, hold_line);
				started++;
				busy++;
			}
			pump(1000);
			if (failures)
				die("hold: %d connections failed (after %d ready)", failures, done_count);
			if (now_ms() - t0 > 240000)
				die("hold: stuck after %d", done_count);
		}
		/* Let the server finish deferred work and free what it dropped. */
		settle(1000);
		long rss = rss_kib(pid);
		printf("n=%d rss_kib=%ld per_session_bytes=%.0f setup_rate=%.1f\n", marks[m], rss,
		       (double)(rss - rss0) * 1024.0 / marks[m], marks[m] / ((now_ms() - t0) / 1000));
		fflush(stdout);
	}
	/* Idle: every connection polled (so a drop would be seen), none talks. */
	for (size_t i = 0; i < nconns; i++)
		conns[i]->watch = 1;
	double c0 = cpu_ms(pid), w0 = now_ms();
	settle(idle_s * 1000);
	double c1 = cpu_ms(pid), w1 = now_ms();
	printf("idle_secs=%.1f idle_cpu_ms=%.0f idle_cpu_pct=%.3f live=%d failed=%d\n", (w1 - w0) / 1000,
	       c1 - c0, 100.0 * (c1 - c0) / (w1 - w0), count_live(), failures);
	return 0;
}

/* fanout: K contacts of X online; X comes online; time until all K know. */
static struct lc *xc;
static char xname[16];
static int fan_k, online_seen, offline_seen, x_oks, x_online_lines, x_phase;
static double peer_sent, add_sent, add_total;
static double *per_recipient;
static size_t nper;

static void contact_line(struct lc *c, const char *line)
{
	if (!c->greeted) {
		c->greeted = 1;
		lc_send(c, "LOGIN %s %s", c->name, PASSWORD);
		c->waiting = 3;
		return;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		lc_fail(c, line);
		return;
	}
	if (strncmp(line, "OK", 2) == 0) {
		if (c->waiting == 3) {
			lc_send(c, "CONTACTS %s", xname);
			lc_send(c, "PEER %d %s", 40000 + c->idx % 20000, PEER_KEY);
		}
		if (--c->waiting == 0)
			done_count++;
		return;
	}
	if (strncmp(line, "ONLINE ", 7) == 0) {
		per_recipient[nper++] = now_ms() - peer_sent;
		online_seen++;
	} else if (strncmp(line, "OFFLINE ", 8) == 0) {
		offline_seen++;
	}
}

static void x_line(struct lc *c, const char *line)
{
	if (!c->greeted) {
		c->greeted = 1;
		lc_send(c, "LOGIN %s %s", c->name, PASSWORD);
		return;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		lc_fail(c, line);
		return;
	}
	if (strncmp(line, "ONLINE ", 7) == 0) {
		x_online_lines++;
		return;
	}
	if (strncmp(line, "BYE", 3) == 0) {
		x_phase = 3;
		lc_free(c);
		return;
	}
	if (strncmp(line, "OK", 2) != 0)
		return;
	if (x_phase == 0) {
		/* One ADD per contact: a CONTACTS line of 1,000 names would
		 * not fit in 1,024 bytes. */
		x_phase = 1;
		x_oks = 0;
		add_sent = now_ms();
		for (int i = 1; i <= fan_k; i++) {
			char n[16];
			user_name(n, sizeof n, c->idx + i);
			lc_send(c, "ADD %s", n);
		}
		return;
	}
	if (x_phase == 1 && ++x_oks == fan_k) {
		x_phase = 2;
		peer_sent = now_ms();
		add_total += peer_sent - add_sent;
		lc_send(c, "PEER 39999 %s", PEER_KEY);
	}
}

static void nop_open(struct lc *c)
{
	(void)c;
}

static void wait_until(int *flag, int value, const char *what)
{
	double t0 = now_ms();
	while (*flag < value) {
		pump(1000);
		if (failures)
			die("fanout: failed while waiting for %s", what);
		if (now_ms() - t0 > 60000)
			die("fanout: stuck waiting for %s (%d of %d)", what, *flag, value);
	}
}

static int cmd_fanout(int argc, char **argv)
{
	if (argc < 5)
		die("usage: fanout PORT K REPS FIRST");
	port = (unsigned short)atoi(argv[1]);
	mode = M_LOGIN;
	fan_k = atoi(argv[2]);
	int reps = atoi(argv[3]), first = atoi(argv[4]);
	user_name(xname, sizeof xname, first);
	per_recipient = calloc((size_t)(fan_k * reps), sizeof *per_recipient);
	double *all = calloc((size_t)reps, sizeof *all);
	int started = 0;
	while (done_count < fan_k) {
		int busy = 0;
		for (size_t i = 0; i < nconns; i++)
			busy += conns[i]->st != L_DONE && conns[i]->waiting != 0;
		while (started < fan_k && busy < 64) {
			char name[16];
			user_name(name, sizeof name, first + 1 + started);
			struct lc *c = lc_open(first + 1 + started, name, nop_open, contact_line);
			c->waiting = 4; /* greeting, login, contacts, peer */
			started++;
			busy++;
		}
		pump(1000);
		if (failures)
			die("fanout: a contact failed");
	}
	for (int r = 0; r < reps; r++) {
		online_seen = offline_seen = x_online_lines = x_phase = 0;
		xc = lc_open(first, xname, nop_open, x_line);
		wait_until(&online_seen, fan_k, "ONLINE at every contact");
		double worst = 0;
		for (size_t i = nper - (size_t)fan_k; i < nper; i++)
			if (per_recipient[i] > worst)
				worst = per_recipient[i];
		all[r] = worst;
		wait_until(&x_online_lines, fan_k, "X's ONLINE lines");
		lc_send(xc, "LOGOUT");
		wait_until(&offline_seen, fan_k, "OFFLINE at every contact");
		wait_until(&x_phase, 3, "BYE");
		reap();
	}
	double a50 = pct(all, (size_t)reps, 50), a99 = pct(all, (size_t)reps, 99);
	double r50 = pct(per_recipient, nper, 50), r99 = pct(per_recipient, nper, 99);
	printf(
	    "k=%d reps=%d all_p50_ms=%.2f all_p99_ms=%.2f all_max_ms=%.2f each_p50_ms=%.2f each_p99_ms=%.2f "
	    "add_ms=%.1f\n",
	    fan_k, reps, a50, a99, all[reps - 1], r50, r99, add_total / reps);
	return 0;
}

/* mesh: the cluster benchmark. N sessions (u<FIRST>...) spread over the
 * servers of PORTS (comma-separated; session i on PORTS[i % count]), each
 * with K mutual contacts: its K/2 neighbours either side on a ring, so
 * that with 3 nodes 2 in 3 of them are on another node. Once all are in
 * and their ONLINEs delivered, one subject at a time (spread over the
 * ring): REPS PEER changes (ONLINE with the new port at every contact),
 * then REPS LOGOUTs (OFFLINE) each followed by a new login of the same
 * subject on the same node (ONLINE, timed from its PEER). Latencies are
 * counted apart for contacts on another node than the subject's (cross)
 * and on the same one (same). CPU: utime+stime of SRVPIDS (comma-
 * separated) and of RPID (redis-server; 0: none) per login, per PEER
 * event and per LOGOUT + login cycle, and while all sit idle IDLE_S
 * seconds (default 0: not measured). */
enum { EV_NONE, EV_PEER, EV_OFFLINE, EV_ONLINE, EV_TYPES };
static const char *ev_names[EV_TYPES] = {"none", "peer", "offline", "online"};
static unsigned short m_ports[16];
static int m_nports, m_n, m_k, m_first;
static struct lc **m_by;
static int ev_type, ev_round, ev_subj, ev_heard, online_total, subj_bye;
static double ev_t0;
static double *ev_lat[EV_TYPES][2];
static size_t ev_nlat[EV_TYPES][2];

static int m_node(int i)
{
	return i % m_nports;
}

static void mesh_line(struct lc *c, const char *line);

static struct lc *mesh_open(int i)
{
	char name[16];
	user_name(name, sizeof name, m_first + i);
	port = m_ports[m_node(i)];
	struct lc *c = lc_open(i, name, nop_open, mesh_line);
	c->waiting = 4; /* greeting, login, contacts, peer */
	c->heard = -1;
	m_by[i] = c;
	return c;
}

/* The subject of an event is heard by contact c: one latency. */
static void mesh_heard(struct lc *c, const char *rest)
{
	char subj[16];
	user_name(subj, sizeof subj, m_first + ev_subj);
	size_t sl = strlen(subj);
	if (strncmp(rest, subj, sl) != 0 || (rest[sl] != ' ' && rest[sl] != '\0') || c->heard == ev_round)
		return;
	c->heard = ev_round;
	int cross = m_node(c->idx) != m_node(ev_subj);
	ev_lat[ev_type][cross][ev_nlat[ev_type][cross]++] = now_ms() - ev_t0;
	ev_heard++;
}

static void mesh_line(struct lc *c, const char *line)
{
	if (!c->greeted) {
		c->greeted = 1;
		lc_send(c, "LOGIN %s %s", c->name, PASSWORD);
		c->waiting = 3;
		return;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		lc_fail(c, line);
		return;
	}
	if (strncmp(line, "BYE", 3) == 0) {
		if (c->idx == ev_subj)
			subj_bye = 1;
		lc_free(c);
		return;
	}
	if (strncmp(line, "ONLINE ", 7) == 0) {
		if ((ev_type == EV_PEER || ev_type == EV_ONLINE) && c->idx != ev_subj)
			mesh_heard(c, line + 7);
		else if (ev_type == EV_NONE)
			online_total++;
		return;
	}
	if (strncmp(line, "OFFLINE ", 8) == 0) {
		if (ev_type == EV_OFFLINE && c->idx != ev_subj)
			mesh_heard(c, line + 8);
		return;
	}
	if (strncmp(line, "OK", 2) != 0 || c->waiting == 0)
		return;
	if (c->waiting == 3) {
		/* Logged in: the K ring neighbours, then the peer address. */
		char buf[1024];
		size_t n = 0;
		for (int d = -m_k / 2; d <= m_k / 2 && n + 16 < sizeof buf; d++) {
			if (d == 0)
				continue;
			char nm[16];
			user_name(nm, sizeof nm, m_first + (c->idx + d + m_n) % m_n);
			n += (size_t)snprintf(buf + n, sizeof buf - n, " %s", nm);
		}
		lc_send(c, "CONTACTS%s", buf);
		if (ev_type == EV_ONLINE && c->idx == ev_subj)
			ev_t0 = now_ms();
		lc_send(c, "PEER %d %s", 40000 + c->idx % 20000, PEER_KEY);
	}
	if (--c->waiting == 0)
		done_count++;
}

static void mesh_wait(const int *v, int value, const char *what)
{
	double t0 = now_ms();
	while (*v < value) {
		pump(1000);
		if (failures)
			die("mesh: a connection failed while waiting for %s", what);
		if (now_ms() - t0 > 60000)
			die("mesh: stuck waiting for %s (%d of %d)", what, *v, value);
	}
}

static double cpu_sum(const int *pids, int n)
{
	double t = 0;
	for (int i = 0; i < n; i++)
		t += cpu_ms(pids[i]);
	return t;
}

static void print_lat(int type)
{
	printf("%s", ev_names[type]);
	static const char *cat[3] = {"same", "cross", "all"};
	for (int k = 0; k < 3; k++) {
		double *v = k < 2 ? ev_lat[type][k] : ev_lat[type][0];
		size_t n = k < 2 ? ev_nlat[type][k] : ev_nlat[type][0] + ev_nlat[type][1];
		if (k == 2) /* all: the same array holds both (cross after same) */
			memmove(v + ev_nlat[type][0], ev_lat[type][1], ev_nlat[type][1] * sizeof *v);
		if (n == 0)
			printf(" %s_n=0 %s_p50_ms=- %s_p99_ms=-", cat[k], cat[k], cat[k]);
		else
			printf(" %s_n=%zu %s_p50_ms=%.2f %s_p99_ms=%.2f", cat[k], n, cat[k], pct(v, n, 50),
			       cat[k], pct(v, n, 99));
	}
}

static int cmd_mesh(int argc, char **argv)
{
	if (argc < 8)
		die("usage: mesh PORTS N K REPS FIRST SRVPIDS RPID [IDLE_S]");
	mode = M_LOGIN;
	for (char *s = strtok(argv[1], ","); s && m_nports < 16; s = strtok(NULL, ","))
		m_ports[m_nports++] = (unsigned short)atoi(s);
	m_n = atoi(argv[2]);
	m_k = atoi(argv[3]) / 2 * 2;
	int reps = atoi(argv[4]);
	m_first = atoi(argv[5]);
	int spids[16], nspids = 0;
	for (char *s = strtok(argv[6], ","); s && nspids < 16; s = strtok(NULL, ","))
		spids[nspids++] = atoi(s);
	int rpid = atoi(argv[7]), idle_s = argc > 8 ? atoi(argv[8]) : 0;
	if (m_nports == 0 || nspids == 0 || m_k < 2 || m_n <= m_k || reps < 1 || reps > m_n)
		die("mesh: bad arguments");
	m_by = calloc((size_t)m_n, sizeof *m_by);
	for (int t = 0; t < EV_TYPES; t++)
		for (int k = 0; k < 2; k++)
			if ((ev_lat[t][k] = calloc((size_t)(reps * m_k) * 2, sizeof(double))) == NULL)
				die("out of memory");
	printf("mesh nodes=%d n=%d k=%d reps=%d\n", m_nports, m_n, m_k, reps);

	/* ---- logins: LOGIN, CONTACTS, PEER; 64 in flight ---- */
	double s0 = cpu_sum(spids, nspids), r0 = rpid ? cpu_ms(rpid) : 0, t0 = now_ms();
	int started = 0;
	while (done_count < m_n) {
		int busy = 0;
		for (size_t i = 0; i < nconns; i++)
			busy += conns[i]->st != L_DONE && conns[i]->waiting != 0;
		while (started < m_n && busy < 64) {
			mesh_open(started++);
			busy++;
		}
		pump(1000);
		if (failures)
			die("mesh: %d logins failed (after %d)", failures, done_count);
		if (now_ms() - t0 > 240000)
			die("mesh: logins stuck after %d", done_count);
	}
	double tl = now_ms();
	/* every session hears each of its K contacts come online once */
	double quiet = now_ms();
	int last = online_total;
	while (online_total < m_n * m_k && now_ms() - quiet < 5000) {
		pump(200);
		if (online_total != last) {
			last = online_total;
			quiet = now_ms();
		}
	}
	double s1 = cpu_sum(spids, nspids), r1 = rpid ? cpu_ms(rpid) : 0;
	printf("login n=%d secs=%.3f rate=%.1f online=%d of %d srv_cpu_ms_per_login=%.3f "
	       "redis_cpu_ms_per_login=%.3f\n",
	       m_n, (tl - t0) / 1000, m_n / ((tl - t0) / 1000), online_total, m_n * m_k, (s1 - s0) / m_n,
	       (r1 - r0) / m_n);

	/* ---- PEER changes ---- */
	s0 = cpu_sum(spids, nspids), r0 = rpid ? cpu_ms(rpid) : 0;
	for (int r = 0; r < reps; r++) {
		ev_subj = (int)(((long)r * 997 + 13) % m_n);
		ev_round++;
		ev_type = EV_PEER;
		ev_heard = 0;
		ev_t0 = now_ms();
		lc_send(m_by[ev_subj], "PEER %d %s", 20000 + r, PEER_KEY);
		mesh_wait(&ev_heard, m_k, "ONLINE (PEER change) at every contact");
	}
	s1 = cpu_sum(spids, nspids), r1 = rpid ? cpu_ms(rpid) : 0;
	print_lat(EV_PEER);
	printf(" srv_cpu_ms_per_event=%.3f redis_cpu_ms_per_event=%.3f\n", (s1 - s0) / reps,
	       (r1 - r0) / reps);

	/* ---- LOGOUT, then a new login of the same subject ---- */
	s0 = cpu_sum(spids, nspids), r0 = rpid ? cpu_ms(rpid) : 0;
	for (int r = 0; r < reps; r++) {
		ev_subj = (int)(((long)r * 997 + 13) % m_n);
		ev_round++;
		ev_type = EV_OFFLINE;
		ev_heard = subj_bye = 0;
		ev_t0 = now_ms();
		lc_send(m_by[ev_subj], "LOGOUT");
		mesh_wait(&ev_heard, m_k, "OFFLINE at every contact");
		mesh_wait(&subj_bye, 1, "BYE");
		reap();
		ev_round++;
		ev_type = EV_ONLINE;
		ev_heard = 0;
		int d0 = done_count;
		mesh_open(ev_subj);
		mesh_wait(&ev_heard, m_k, "ONLINE (a new login) at every contact");
		mesh_wait(&done_count, d0 + 1, "the new login's replies");
	}
	s1 = cpu_sum(spids, nspids), r1 = rpid ? cpu_ms(rpid) : 0;
	print_lat(EV_OFFLINE);
	printf("\n");
	print_lat(EV_ONLINE);
	printf("\ncycle reps=%d srv_cpu_ms_per_cycle=%.3f redis_cpu_ms_per_cycle=%.3f live=%d failed=%d\n",
	       reps, (s1 - s0) / reps, (r1 - r0) / reps, count_live(), failures);
	if (idle_s > 0) {
		ev_type = EV_NONE;
		s0 = cpu_sum(spids, nspids), r0 = rpid ? cpu_ms(rpid) : 0;
		double w0 = now_ms();
		settle(idle_s * 1000);
		double w = (now_ms() - w0) / 1000;
		s1 = cpu_sum(spids, nspids), r1 = rpid ? cpu_ms(rpid) : 0;
		printf("idle secs=%.1f srv_cpu_ms_per_s=%.2f redis_cpu_ms_per_s=%.2f live=%d\n", w,
		       (s1 - s0) / w, (r1 - r0) / w, count_live());
	}
	return failures ? 1 : 0;
}

/* mkusers: a users file in the documented format, one PBKDF2 per run (the
 * same salt for every user: these are throwaway accounts). */
static int cmd_mkusers(int argc, char **argv)
{
	if (argc < 6)
		die("usage: mkusers FILE FIRST COUNT ITERATIONS PASSWORD");
	int first = atoi(argv[2]), count = atoi(argv[3]);
	struct users_rec r;
	memset(&r, 0, sizeof r);
	if (users_hash(argv[5], strlen(argv[5]), atoi(argv[4]), &r) < 0)
		die("users_hash failed");
	FILE *f = fopen(argv[1], "a");
	if (f == NULL)
		die("%s: %s", argv[1], strerror(errno));
	char line[USERS_LINE_MAX];
	for (int i = 0; i < count; i++) {
		user_name(r.name, sizeof r.name, first + i);
		if (users_format_line(&r, line, sizeof line) < 0)
			die("users_format_line failed");
		fprintf(f, "%s\n", line);
	}
	if (fclose(f) != 0)
		die("%s: %s", argv[1], strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	char err[256];
	if (argc < 2)
		die("usage: load mkusers|rate|hold|fanout|mesh ...");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(argv[1], "mkusers"))
		return cmd_mkusers(argc - 1, argv + 1);
	if ((cfg = tls_cfg_new(TLS_CLIENT, NULL, NULL, err, sizeof err)) == NULL)
		die("%s", err);
	/* The chain is never checked (tls.c accepts any and callers compare
	 * tls_peer_key); the benchmark does not pin the server's key. */
	if (!strcmp(argv[1], "rate"))
		return cmd_rate(argc - 1, argv + 1);
	if (!strcmp(argv[1], "hold"))
		return cmd_hold(argc - 1, argv + 1);
	if (!strcmp(argv[1], "fanout"))
		return cmd_fanout(argc - 1, argv + 1);
	if (!strcmp(argv[1], "mesh"))
		return cmd_mesh(argc - 1, argv + 1);
	die("unknown command %s", argv[1]);
}
