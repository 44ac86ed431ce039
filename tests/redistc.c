/* redistc: modules/redis.c on its own, for the tests: the async link on
 * the loop (commands, the state callback, a subscription) and the blocking
 * link, driven from stdin.
 *
 * usage: redistc -i FILE [-a PASSWORD] [-s CHANNEL] [-w SECONDS] HOST:PORT
 *        redistc -S [-a PASSWORD] HOST:PORT COMMAND...   (the blocking link)
 *   -i FILE     commands: FILE is followed as it grows (a test appends)
 *   -s CHANNEL  subscribe to CHANNEL
 *   -w SECONDS  exit after this long (default 60)
 * Async mode reads FILE, one command a line (sent as redis_cmd's format, so
 * no '%'), and prints, one line each, flushed:
 *   up | down WHY            the command link's transitions
 *   subup | subdown          the subscription's
 *   msg TEXT                 a message on CHANNEL
 *   reply N TYPE TEXT        the answer to the Nth command line (TYPE: str,
 *                            status, error, int, nil, array, or "null" when
 *                            the link dropped before the answer)
 *   refused N                redis_cmd returned -1 (the link is down)
 * A line "quit": exit 0 once every command before it was answered. -S prints the reply
 * ("TYPE TEXT") or "error REASON" and exits 0, 1 when it could not connect.
 * Built without cluster mode it prints so and exits 77. */
#ifdef IM_CLUSTER
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "redis.h"

static struct loop *L;
static struct redis *R;
static int eof, waiting;
static char inbuf[4096];
static size_t inlen;

static void show(const char *what, long n, const redisReply *rep)
{
	if (rep == NULL) {
		printf("%s %ld null\n", what, n);
		return;
	}
	switch (rep->type) {
	case REDIS_REPLY_STRING:
		printf("%s %ld str %.*s\n", what, n, (int)rep->len, rep->str);
		break;
	case REDIS_REPLY_STATUS:
		printf("%s %ld status %s\n", what, n, rep->str);
		break;
	case REDIS_REPLY_ERROR:
		printf("%s %ld error %s\n", what, n, rep->str);
		break;
	case REDIS_REPLY_INTEGER:
		printf("%s %ld int %lld\n", what, n, rep->integer);
		break;
	case REDIS_REPLY_NIL:
		printf("%s %ld nil\n", what, n);
		break;
	default:
		printf("%s %ld array %zu\n", what, n, rep->elements);
	}
}

static void maybe_done(void)
{
	if (eof && waiting == 0)
		loop_stop(L);
}

static void on_reply(struct redis *r, redisReply *rep, void *arg)
{
	show("reply", (long)(intptr_t)arg, rep);
	fflush(stdout);
	waiting--;
	maybe_done();
}

static void on_state(struct redis *r, int up, const char *why, void *arg)
{
	if (up)
		printf("up\n");
	else
		printf("down %s\n", why);
	fflush(stdout);
}

static void on_msg(struct redis *r, const char *msg, size_t len, void *arg)
{
	printf("msg %.*s\n", (int)len, msg);
	fflush(stdout);
}

static void on_sub(struct redis *r, int up, void *arg)
{
	printf("%s\n", up ? "subup" : "subdown");
	fflush(stdout);
}

static int infd;
static struct loop_timer follow_t;

static void follow(struct loop *l, void *arg)
{
	static long nth;
	loop_timer_set(l, &follow_t, 50, follow, NULL);
	ssize_t n = read(infd, inbuf + inlen, sizeof inbuf - 1 - inlen);
	if (n <= 0 || eof)
		return;
	inlen += (size_t)n;
	char *nl;
	while ((nl = memchr(inbuf, '\n', inlen)) != NULL) {
		*nl = '\0';
		if (!strcmp(inbuf, "quit")) {
			eof = 1;
			maybe_done();
		} else if (!eof && inbuf[0] != '\0' && strchr(inbuf, '%') == NULL) {
			nth++;
			if (redis_cmd(R, on_reply, (void *)(intptr_t)nth, inbuf) < 0)
				printf("refused %ld\n", nth);
			else
				waiting++;
			fflush(stdout);
		}
		size_t used = (size_t)(nl - inbuf) + 1;
		memmove(inbuf, inbuf + used, inlen - used);
		inlen -= used;
	}
	if (inlen == sizeof inbuf - 1)
		inlen = 0; /* a line too long: dropped */
}

static void on_time(struct loop *l, void *arg)
{
	loop_stop(l);
}

static int sync_mode(const char *addr, const char *pw, int argc, char **argv)
{
	char err[300], cmd[2048] = "";
	size_t n = 0;
	for (int i = 0; i < argc; i++)
		n += (size_t)snprintf(cmd + n, sizeof cmd - n, "%s%s", i ? " " : "", argv[i]);
	struct redis_sync *s = redis_sync_open(addr, pw, 2000, err, sizeof err);
	if (s == NULL) {
		printf("error %s\n", err);
		return 1;
	}
	redisReply *rep = strchr(cmd, '%') ? NULL : redis_sync_cmd(s, err, sizeof err, cmd);
	if (rep == NULL)
		printf("error %s\n", err);
	else
		show("sync", 0, rep);
	freeReplyObject(rep);
	redis_sync_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *pw = NULL, *chan = NULL, *in = NULL;
	int secs = 60, sync = 0, i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-S"))
			sync = 1;
		else if (!strcmp(argv[i], "-a") && i + 1 < argc)
			pw = argv[++i];
		else if (!strcmp(argv[i], "-i") && i + 1 < argc)
			in = argv[++i];
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			chan = argv[++i];
		else if (!strcmp(argv[i], "-w") && i + 1 < argc)
			secs = atoi(argv[++i]);
		else
			break;
	}
	if (i >= argc || (!sync && in == NULL)) {
		fprintf(stderr, "usage: redistc -i FILE [-a PASSWORD] [-s CHANNEL] [-w SECONDS] HOST:PORT\n"
		                "       redistc -S [-a PASSWORD] HOST:PORT COMMAND...\n");
		return 1;
	}
	log_init("redistc", "stderr", LOG_LVL_DEBUG);
	if (sync)
		return sync_mode(argv[i], pw, argc - i - 1, argv + i + 1);
	L = loop_new();
	R = L ? redis_new(L, argv[i], pw, on_state, NULL) : NULL;
	if (R == NULL) {
		fprintf(stderr, "redistc: bad address '%s'\n", argv[i]);
		return 1;
	}
	if (chan != NULL && redis_subscribe(R, chan, on_msg, on_sub, NULL) < 0)
		return 1;
	struct loop_timer t = {0};
	loop_timer_set(L, &t, (uint64_t)secs * 1000, on_time, NULL);
	if ((infd = open(in, O_RDONLY)) < 0) {
		perror(in);
		return 1;
	}
	follow(L, NULL);
	redis_start(R);
	loop_run(L);
	redis_free(R);
	loop_free(L);
	return 0;
}
#else
#include <stdio.h>

int main(void)
{
	printf("redistc: built without cluster mode\n");
	return 77;
}
#endif
