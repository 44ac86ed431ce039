/* storm: the reconnect-storm benchmark (issue 8). Starts a server, logs N
 * clients in and keeps them online, restarts the server (SIGTERM, wait for
 * it to exit, start it again on the same port) and lets every client
 * reconnect at once, then prints key=value figures for tests/bench/run.sh:
 * the time until all N are back online and the new server process's CPU
 * (utime+stime from /proc/PID/stat, all threads) per reconnect.
 *
 *   storm [options] im|mqtt PORT N FIRST -- SERVER-COMMAND ARGS...
 *   -j [MIN-]MAX  each client waits uniform [MIN, MAX] ms before its first
 *            reconnect (default 0: all at once, the moment the new server
 *            accepts; im's client waits 100-1000)
 *   -c C     at most C logins in flight while setting up (default 64)
 *   -p       password only: never RESUME, never offer a TLS session (the
 *            cost of today's reconnect, whatever the server offers)
 *   -u SRC DST  rename SRC over DST while the server is down (lets the
 *            set-up run on cheap password hashes and the storm on others)
 *   -t S     give up on the storm after S seconds (default 300)
 *   -l DIR   server logs go to DIR/server-1.log and DIR/server-2.log
 *
 * An im client logs in (LOGIN, or RESUME with the token the server sent
 * after its last OK), then sends PEER and CONTACTS (two neighbours) as the
 * real client does: it is "back" when all three are answered. It keeps
 * the TLS session of its last connection and offers it on the next one
 * (mbedTLS session tickets), so a server that issues tickets it can still
 * decrypt after a restart is resumed without ECDHE or signatures; whether
 * a handshake was resumed is read from mbedTLS, not assumed. A failed
 * attempt (ERR 503, a close, a timeout) is retried after full-jitter
 * backoff, uniform [100 ms, min(30 s, 1 s * 2^k)], as the client does. An MQTT
 * client sends CONNECT with user and password and is back at CONNACK.
 * Users are uNNNNN with password "benchpass1" (load mkusers writes them);
 * the MQTT user is "bench". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#if MBEDTLS_VERSION_NUMBER < 0x03000000
#include <mbedtls/ssl_internal.h> /* handshake->resume: was this handshake resumed */
#endif

/* mbedTLS 3.x marks struct fields private; 2.28 has no such macro. */
#ifndef MBEDTLS_PRIVATE
#define MBEDTLS_PRIVATE(member) member
#endif

#define PASSWORD  "benchpass1"
#define PEER_KEY  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define MQTT_USER "bench"

enum mode { M_IM, M_MQTT };
enum st { S_DOWN, S_CONNECTING, S_HS, S_OPEN, S_ONLINE };

struct sc {
	int fd, idx;
	enum st st;
	mbedtls_ssl_context ssl;
	int ssl_live;
	mbedtls_ssl_session sess;
	int have_sess;
	char name[16];
	char token[64];
	char in[4096];
	size_t inlen;
	char out[512];
	size_t outlen;
	int greeted, login_ok, oks_wanted, sent_resume;
	int tls_resumed;  /* this attempt's handshake was resumed */
	long hs_in;       /* handshake bytes read on this attempt */
	int attempts;     /* attempts in the current phase */
	int backoff;      /* failures in a row */
	double next_try;  /* when S_DOWN: ms of the next attempt, 0 = held */
	double t_attempt; /* start of the current attempt */
	double t_back;    /* when it came back in the current phase */
	int back;         /* back online in the current phase */
};

static enum mode mode;
static unsigned short port;
static int n_clients, first_user, password_only;
static struct sc *cl;
static mbedtls_ssl_config conf;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static int nback, in_storm;
/* counts over the storm */
static int c_resumed_tls, c_full_tls, c_resume_ok, c_login_ok, c_fallback, c_retries, c_err503, c_err429,
    c_closed, c_other_err;
static long full_hs_bytes_min = -1, full_hs_bytes_max;
static long long hs_bytes_storm;
static char last_err[200], first_err[200];

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    0,
};

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int srv_pid; /* the server running now */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	if (srv_pid > 0)
		kill(srv_pid, SIGKILL);
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "storm: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* utime+stime of every thread of pid, in milliseconds (as load.c). */
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

/* ---- TLS over the client's socket, counting handshake bytes ---- */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct sc *c = ctx;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct sc *c = ctx;
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n > 0) {
		if (c->st == S_HS)
			c->hs_in += n;
		return (int)n;
	}
	if (n == 0)
		return MBEDTLS_ERR_SSL_CONN_EOF;
	if (errno == EAGAIN || errno == EINTR)
		return MBEDTLS_ERR_SSL_WANT_READ;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

static void tls_setup(void)
{
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)"storm", 5))
		die("cannot seed the random generator");
	mbedtls_ssl_config_init(&conf);
	if (mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT))
		die("TLS defaults");
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	/* What im's client offers (modules/tls.c): TLS 1.2, ECDHE-ECDSA AEAD.
	 * The benchmark does not pin the server's key. */
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
	mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
	mbedtls_ssl_conf_ciphersuites(&conf, suites);
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
	mbedtls_ssl_conf_session_tickets(&conf, password_only ? MBEDTLS_SSL_SESSION_TICKETS_DISABLED
	                                                      : MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#endif
}

/* Steps the handshake, noting whether mbedTLS resumed the session. */
static int handshake(struct sc *c)
{
#if MBEDTLS_VERSION_NUMBER < 0x03000000
	while (c->ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
		/* set_session raises the flag; the ServerHello clears it unless
		 * the server took the session: read it once that is parsed */
		if (c->ssl.state > MBEDTLS_SSL_SERVER_HELLO && c->ssl.handshake != NULL &&
		    c->ssl.handshake->resume)
			c->tls_resumed = 1;
		int rc = mbedtls_ssl_handshake_step(&c->ssl);
		if (rc != 0)
			return rc;
	}
	return 0;
#else
	/* No public flag in 3.x: a resumed handshake reads no certificate
	 * and no key exchange, so it is far shorter than the set-up's. */
	int rc = mbedtls_ssl_handshake(&c->ssl);
	if (rc == 0 && full_hs_bytes_min > 0 && c->hs_in < full_hs_bytes_min - 300)
		c->tls_resumed = 1;
	return rc;
#endif
}

/* ---- one client ---- */

static void schedule(struct sc *c, double delay_ms)
{
	c->st = S_DOWN;
	c->next_try = now_ms() + delay_ms;
	if (c->next_try == 0)
		c->next_try = 1;
}

static double jitter(double max_ms)
{
	return max_ms * ((double)rand() / ((double)RAND_MAX + 1));
}

static void sc_close(struct sc *c)
{
	if (c->ssl_live) {
		mbedtls_ssl_free(&c->ssl);
		c->ssl_live = 0;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->inlen = c->outlen = 0;
	c->st = S_DOWN;
	c->next_try = 0; /* held until the caller schedules it */
}

/* An attempt failed: retry after full-jitter backoff. */
static void sc_fail(struct sc *c, const char *why)
{
	int was_back = c->back;
	snprintf(last_err, sizeof last_err, "%s: %s", c->name, why);
	if (in_storm && !was_back && first_err[0] == '\0')
		snprintf(first_err, sizeof first_err, "%s", last_err);
	sc_close(c);
	if (was_back)
		return; /* the server went away under an online client: held */
	c_retries++;
	double cap = 1000.0 * (1 << (c->backoff < 5 ? c->backoff : 5));
	if (cap > 30000)
		cap = 30000;
	c->backoff++;
	schedule(c, 100 + jitter(cap - 100));
}

static void sc_send(struct sc *c, const void *data, size_t len)
{
	if (c->outlen + len > sizeof c->out)
		die("output overflow");
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
}

static void sc_line(struct sc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sc_line(struct sc *c, const char *fmt, ...)
{
	char line[300];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	sc_send(c, line, (size_t)n);
}

static void sc_flush(struct sc *c)
{
	size_t off = 0;
	while (off < c->outlen) {
		int n = mbedtls_ssl_write(&c->ssl, (const unsigned char *)c->out + off, c->outlen - off);
		if (n == MBEDTLS_ERR_SSL_WANT_WRITE || n == MBEDTLS_ERR_SSL_WANT_READ)
			break;
		if (n < 0) {
			sc_fail(c, "write failed");
			return;
		}
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
}

static void sc_back(struct sc *c)
{
	c->back = 1;
	c->backoff = 0;
	c->t_back = now_ms();
	c->st = S_ONLINE;
	nback++;
	if (in_storm) {
		if (c->tls_resumed)
			c_resumed_tls++;
		else
			c_full_tls++;
		hs_bytes_storm += c->hs_in;
	} else if (!c->tls_resumed) {
		if (full_hs_bytes_min < 0 || c->hs_in < full_hs_bytes_min)
			full_hs_bytes_min = c->hs_in;
		if (c->hs_in > full_hs_bytes_max)
			full_hs_bytes_max = c->hs_in;
	}
}

static void user_name(char *out, size_t cap, int i)
{
	snprintf(out, cap, "u%05d", i);
}

static void send_login(struct sc *c)
{
	if (c->token[0] && !password_only) {
		sc_line(c, "RESUME %s %s", c->name, c->token);
		c->sent_resume = 1;
	} else {
		sc_line(c, "LOGIN %s %s", c->name, PASSWORD);
		c->sent_resume = 0;
	}
}

static void im_line(struct sc *c, char *line)
{
	size_t len = strlen(line);
	if (len && line[len - 1] == '\r')
		line[len - 1] = '\0';
	if (!c->greeted) {
		if (strncmp(line, "IM 1", 4) != 0) {
			sc_fail(c, line);
			return;
		}
		c->greeted = 1;
		send_login(c);
		return;
	}
	if (strncmp(line, "TOKEN ", 6) == 0) {
		snprintf(c->token, sizeof c->token, "%s", line + 6);
		return;
	}
	if (!c->login_ok) {
		if (strncmp(line, "OK ", 3) == 0) {
			c->login_ok = 1;
			if (in_storm)
				*(c->sent_resume ? &c_resume_ok : &c_login_ok) += 1;
			char prev[16], next[16];
			user_name(prev, sizeof prev, c->idx > 0 ? first_user + c->idx - 1 : first_user + 2);
			user_name(next, sizeof next, first_user + c->idx + 1);
			sc_line(c, "PEER %d %s", 40000 + c->idx % 20000, PEER_KEY);
			sc_line(c, "CONTACTS %s %s", prev, next);
			c->oks_wanted = 2;
			return;
		}
		if (strncmp(line, "ERR 401", 7) == 0 && c->sent_resume) {
			/* a void token: the password, as the client falls back */
			c->token[0] = '\0';
			if (in_storm)
				c_fallback++;
			send_login(c);
			return;
		}
		if (in_storm) {
			if (strncmp(line, "ERR 503", 7) == 0)
				c_err503++;
			else if (strncmp(line, "ERR 429", 7) == 0)
				c_err429++;
			else
				c_other_err++;
		}
		sc_fail(c, line);
		return;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		c_other_err++;
		sc_fail(c, line);
		return;
	}
	if (c->oks_wanted > 0 && strcmp(line, "OK") == 0 && --c->oks_wanted == 0)
		sc_back(c);
	/* ONLINE / OFFLINE / ASKED of the neighbours: read and forgotten */
}

static void mqtt_connect(struct sc *c)
{
	/* CONNECT, clean session, user and password, keepalive 600 s (as load.c) */
	unsigned char p[128];
	char id[24];
	int idlen = snprintf(id, sizeof id, "b%d", c->idx);
	size_t n = 0, ulen = strlen(MQTT_USER), plen = strlen(PASSWORD);
	p[n++] = 0x10;
	p[n++] = (unsigned char)(10 + 2 + (size_t)idlen + 2 + ulen + 2 + plen);
	static const unsigned char hdr[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0xC2, 0x02, 0x58};
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
	sc_send(c, p, n);
}

static void sc_start(struct sc *c)
{
	c->attempts++;
	c->t_attempt = now_ms();
	c->greeted = c->login_ok = c->oks_wanted = c->sent_resume = c->tls_resumed = 0;
	c->hs_in = 0;
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
	c->st = S_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		sc_fail(c, strerror(errno));
		return;
	}
	mbedtls_ssl_init(&c->ssl);
	c->ssl_live = 1;
	if (mbedtls_ssl_setup(&c->ssl, &conf))
		die("mbedtls_ssl_setup: out of memory");
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	if (c->have_sess && !password_only)
		mbedtls_ssl_set_session(&c->ssl, &c->sess);
}

static void sc_read(struct sc *c)
{
	while (c->st == S_OPEN || c->st == S_ONLINE) {
		int n =
		    mbedtls_ssl_read(&c->ssl, (unsigned char *)c->in + c->inlen, sizeof c->in - c->inlen - 1);
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			return;
		if (n <= 0) {
			if (in_storm && !c->back)
				c_closed++;
			sc_fail(c, n == 0 || n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
			                   n == MBEDTLS_ERR_SSL_CONN_EOF
			               ? "closed by the server"
			               : "read failed");
			return;
		}
		c->inlen += (size_t)n;
		if (mode == M_MQTT) {
			if (!c->back) {
				if ((unsigned char)c->in[0] != 0x20 || c->inlen < 4 || c->in[3] != 0) {
					if (in_storm)
						c_other_err++;
					sc_fail(c, "no CONNACK");
					return;
				}
				sc_back(c);
			}
			c->inlen = 0;
			continue;
		}
		char *p = c->in, *nl;
		c->in[c->inlen] = '\0';
		while ((c->st == S_OPEN || c->st == S_ONLINE) &&
		       (nl = memchr(p, '\n', c->inlen - (size_t)(p - c->in))) != NULL) {
			*nl = '\0';
			im_line(c, p);
			p = nl + 1;
		}
		if (c->st != S_OPEN && c->st != S_ONLINE)
			return;
		c->inlen -= (size_t)(p - c->in);
		memmove(c->in, p, c->inlen);
		if (c->inlen >= sizeof c->in - 1)
			c->inlen = 0;
		if (c->outlen)
			sc_flush(c);
	}
}

static void sc_io(struct sc *c, short rev)
{
	if (c->st == S_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			sc_fail(c, strerror(err));
			return;
		}
		c->st = S_HS;
	}
	if (c->st == S_HS) {
		int rc = handshake(c);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			return;
		if (rc != 0) {
			char buf[100];
			mbedtls_strerror(rc, buf, sizeof buf);
			if (in_storm)
				c_closed++;
			sc_fail(c, buf);
			return;
		}
		if (!password_only) {
			if (c->have_sess)
				mbedtls_ssl_session_free(&c->sess);
			mbedtls_ssl_session_init(&c->sess);
			c->have_sess = mbedtls_ssl_get_session(&c->ssl, &c->sess) == 0;
		}
		c->st = S_OPEN;
		if (mode == M_MQTT)
			mqtt_connect(c);
	}
	if (c->outlen && (rev & POLLOUT))
		sc_flush(c);
	sc_read(c);
	if ((c->st == S_OPEN || c->st == S_ONLINE) && c->outlen)
		sc_flush(c);
}

/* One poll pass; starts the attempts that are due. */
static void pump(int max_wait_ms)
{
	static struct pollfd *pf;
	static int *who;
	if (pf == NULL) {
		pf = calloc((size_t)n_clients, sizeof *pf);
		who = calloc((size_t)n_clients, sizeof *who);
		if (pf == NULL || who == NULL)
			die("out of memory");
	}
	double now = now_ms(), soonest = now + max_wait_ms;
	for (int i = 0; i < n_clients; i++) {
		struct sc *c = &cl[i];
		if (c->st == S_DOWN && c->next_try > 0) {
			if (c->next_try <= now)
				sc_start(c);
			else if (c->next_try < soonest)
				soonest = c->next_try;
		}
	}
	size_t n = 0;
	for (int i = 0; i < n_clients; i++) {
		struct sc *c = &cl[i];
		if (c->st == S_DOWN)
			continue;
		pf[n].fd = c->fd;
		/* the handshake's flights are small: it waits on input only */
		pf[n].events =
		    c->st == S_CONNECTING || (c->st != S_HS && c->outlen) ? POLLIN | POLLOUT : POLLIN;
		pf[n].revents = 0;
		who[n++] = i;
	}
	int wait_ms = (int)(soonest - now_ms());
	int r = poll(pf, n, wait_ms < 0 ? 0 : wait_ms);
	if (r < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	for (size_t i = 0; r > 0 && i < n; i++)
		if (pf[i].revents)
			sc_io(&cl[who[i]], pf[i].revents);
}

/* ---- the server process ---- */

static char **srv_argv;
static const char *log_dir;

static int srv_start(int gen)
{
	char path[512];
	snprintf(path, sizeof path, "%s/server-%d.log", log_dir ? log_dir : ".", gen);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* a driver that dies takes its server with it */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		FILE *f = freopen(path, "w", stderr);
		(void)f;
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execvp(srv_argv[0], srv_argv);
		fprintf(stderr, "storm: cannot run %s: %s\n", srv_argv[0], strerror(errno));
		_exit(127);
	}
	srv_pid = pid;
	return pid;
}

/* Waits until the server accepts on the port; the ms when it did. */
static double srv_wait_ready(int pid, double limit_ms)
{
	double t0 = now_ms();
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa;
		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons(port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(fd);
		if (ok)
			return now_ms();
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			srv_pid = 0;
			die("the server exited at start (see %s/server-*.log)", log_dir ? log_dir : ".");
		}
		if (now_ms() - t0 > limit_ms)
			die("the server did not accept within %.0f s", limit_ms / 1000);
		usleep(2000);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int conc = 64, opt;
	double jitter_ms = 0, jitter_min = 0, limit_s = 300;
	const char *swap_src = NULL, *swap_dst = NULL;
	while ((opt = getopt(argc, argv, "+j:c:pu:t:l:")) != -1) {
		switch (opt) {
		case 'j': /* MAX or MIN-MAX */
			jitter_ms = atof(optarg);
			if (strchr(optarg, '-')) {
				jitter_min = jitter_ms;
				jitter_ms = atof(strchr(optarg, '-') + 1);
			}
			if (jitter_ms < jitter_min)
				die("-j: MIN-MAX with MIN <= MAX");
			break;
		case 'c':
			conc = atoi(optarg);
			break;
		case 'p':
			password_only = 1;
			break;
		case 'u':
			swap_src = optarg;
			if (optind >= argc)
				die("-u needs SRC DST");
			swap_dst = argv[optind++];
			break;
		case 't':
			limit_s = atof(optarg);
			break;
		case 'l':
			log_dir = optarg;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind < 6 || strcmp(argv[optind + 4], "--") != 0)
		die("usage: storm [-j MS] [-c C] [-p] [-u SRC DST] [-t S] [-l DIR] im|mqtt PORT N FIRST -- "
		    "SERVER-COMMAND...");
	mode = strcmp(argv[optind], "mqtt") == 0 ? M_MQTT : M_IM;
	port = (unsigned short)atoi(argv[optind + 1]);
	n_clients = atoi(argv[optind + 2]);
	first_user = atoi(argv[optind + 3]);
	srv_argv = argv + optind + 5;
	if (n_clients < 1 || conc < 1)
		die("N and C must be positive");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)getpid());
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n_clients + 100) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)n_clients + 100)
			die("open file limit %lu is too low for %d clients", (unsigned long)rl.rlim_cur,
			    n_clients);
	}
	tls_setup();
	cl = calloc((size_t)n_clients, sizeof *cl);
	double *lat = calloc((size_t)n_clients, sizeof *lat);
	if (cl == NULL || lat == NULL)
		die("out of memory");
	for (int i = 0; i < n_clients; i++) {
		cl[i].fd = -1;
		cl[i].idx = i;
		user_name(cl[i].name, sizeof cl[i].name, first_user + i);
	}

	/* 1. set-up: every client logged in and online */
	int busy_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in bsa;
	memset(&bsa, 0, sizeof bsa);
	bsa.sin_family = AF_INET;
	bsa.sin_port = htons(port);
	bsa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(busy_fd, (struct sockaddr *)&bsa, sizeof bsa) == 0) {
		fprintf(stderr, "storm: port %u is in use already\n", port);
		return 3;
	}
	close(busy_fd);
	int pid = srv_start(1);
	srv_wait_ready(pid, 30000);
	double t0 = now_ms();
	int started = 0;
	while (nback < n_clients) {
		int busy = 0;
		for (int i = 0; i < started; i++)
			busy += !cl[i].back;
		while (started < n_clients && busy < conc) {
			schedule(&cl[started++], 0);
			busy++;
		}
		pump(100);
		if (now_ms() - t0 > limit_s * 1000)
			die("set-up: stuck at %d of %d online (last error: %s)", nback, n_clients, last_err);
	}
	int with_token = 0, with_ticket = 0;
	for (int i = 0; i < n_clients; i++) {
		with_token += cl[i].token[0] != 0;
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
		with_ticket += cl[i].have_sess && cl[i].sess.MBEDTLS_PRIVATE(ticket_len) > 0;
#endif
	}
	printf("setup n=%d secs=%.2f tokens=%d tickets=%d full_hs_bytes=%ld..%ld\n", n_clients,
	       (now_ms() - t0) / 1000, with_token, with_ticket, full_hs_bytes_min, full_hs_bytes_max);

	/* 2. restart: SIGTERM, wait for the exit, every client sees its close */
	double t_term = now_ms();
	kill(pid, SIGTERM);
	int status, exited = 0;
	while (!exited) {
		exited = waitpid(pid, &status, WNOHANG) == pid;
		if (exited)
			srv_pid = 0;
		pump(exited ? 0 : 20);
		if (now_ms() - t_term > 60000)
			die("the server did not exit within 60 s of SIGTERM");
	}
	double t_exit = now_ms();
	for (;;) {
		int up = 0;
		for (int i = 0; i < n_clients; i++)
			up += cl[i].st != S_DOWN;
		if (up == 0)
			break;
		pump(20);
		if (now_ms() - t_exit > 20000)
			die("%d clients did not see the server go away", up);
	}
	if (swap_src && rename(swap_src, swap_dst) < 0)
		die("rename %s: %s", swap_src, strerror(errno));
	nback = 0;
	for (int i = 0; i < n_clients; i++) {
		cl[i].back = 0;
		cl[i].attempts = 0;
		cl[i].backoff = 0;
	}
	in_storm = 1;
	pid = srv_start(2);
	double t_ready = srv_wait_ready(pid, 30000);
	double cpu_ready = cpu_ms(pid);

	/* 3. the storm: all at once, or each after uniform [0, jitter] */
	for (int i = 0; i < n_clients; i++) {
		cl[i].next_try = t_ready + jitter_min + jitter(jitter_ms - jitter_min);
		if (cl[i].next_try == 0)
			cl[i].next_try = 1;
	}
	double cpu_mid = -1, t_mid = 0;
	while (nback < n_clients && now_ms() - t_ready < limit_s * 1000) {
		pump(100);
		if (cpu_mid < 0 && nback >= n_clients / 2) {
			cpu_mid = cpu_ms(pid);
			t_mid = now_ms();
		}
	}
	double t_all = now_ms(), cpu_all = cpu_ms(pid);
	int nlat = 0, max_attempts = 0;
	for (int i = 0; i < n_clients; i++) {
		if (cl[i].back)
			lat[nlat++] = cl[i].t_back - t_ready;
		if (cl[i].attempts > max_attempts)
			max_attempts = cl[i].attempts;
	}
	qsort(lat, (size_t)nlat, sizeof *lat, cmp_d);
	double p50 = nlat ? lat[(nlat - 1) / 2] : 0, p90 = nlat ? lat[(int)((nlat - 1) * 0.9)] : 0;
	printf(
	    "storm mode=%s n=%d back=%d jitter_ms=%.0f-%.0f password_only=%d secs=%.3f secs_from_term=%.3f "
	    "restart_ms=%.0f p50_ms=%.0f p90_ms=%.0f rate=%.1f srv_cpu_ms=%.0f srv_start_cpu_ms=%.0f "
	    "srv_cpu_ms_per_op=%.3f tls_resumed=%d tls_full=%d resume_ok=%d login_ok=%d fallback=%d "
	    "retries=%d max_attempts=%d err503=%d err429=%d closed=%d other_err=%d hs_bytes_avg=%.0f\n",
	    mode == M_MQTT ? "mqtt" : "im", n_clients, nback, jitter_min, jitter_ms, password_only,
	    (t_all - t_ready) / 1000, (t_all - t_term) / 1000, t_ready - t_exit, p50, p90,
	    nback / ((t_all - t_ready) / 1000), cpu_all - cpu_ready, cpu_ready,
	    (cpu_all - cpu_ready) / (nback ? nback : 1), c_resumed_tls, c_full_tls, c_resume_ok, c_login_ok,
	    c_fallback, c_retries, max_attempts, c_err503, c_err429, c_closed, c_other_err,
	    nback ? (double)hs_bytes_storm / nback : 0);
	if (first_err[0])
		printf("storm_first_failure %s\n", first_err);
	if (cpu_mid >= 0 && t_mid > t_ready)
		printf("storm_half secs=%.3f\n", (t_mid - t_ready) / 1000);
	if (nback < n_clients)
		printf("storm_incomplete back=%d of %d after %.0f s; last error: %s\n", nback, n_clients,
		       limit_s, last_err);

	/* 4. done: the server goes, the clients with it */
	kill(pid, SIGTERM);
	double tq = now_ms();
	while (waitpid(pid, &status, WNOHANG) != pid) {
		pump(20);
		if (now_ms() - tq > 30000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			break;
		}
	}
	srv_pid = 0;
	for (int i = 0; i < n_clients; i++)
		sc_close(&cl[i]);
	return nback == n_clients ? 0 : 1;
}
