/* fuzz_cluster: libFuzzer target over what a cluster node takes from the
 * Redis channel: the fuzzer's bytes, split at newlines, as channel messages
 * (LOGIN/UPDATE records, LOGOUT, DOWN, KICK, CALL, PUNCH) into one node's
 * session table. Forged or broken records must be refused or applied,
 * never crash or leak; at the end the table is emptied. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef IM_CLUSTER
#include "cluster.h"
#include "log.h"
#include "loop.h"
#include "redis.h"
#include "sess.h"

static struct loop *loop;
static char run_dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (loop == NULL) {
		snprintf(run_dir, sizeof run_dir, "/tmp/fuzz_cluster.%ld", (long)getpid());
		log_init("fuzz", "stderr", LOG_LVL_ERR);
		if ((loop = loop_new()) == NULL)
			abort();
	}
	struct sess_table t;
	if (sess_init(&t, run_dir, loop) < 0)
		abort();
	/* never started: every command is refused, as with Redis away */
	struct redis *link = redis_new(loop, "127.0.0.1:1", NULL, NULL, NULL);
	struct cluster *c = link ? cluster_new(loop, &t, link, "n1", "im:", 15) : NULL;
	if (c == NULL)
		abort();
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		cluster_message(c, p, n);
		p += n + 1;
	}
	redis_free(link);
	cluster_free(c);
	sess_free(&t);
	rmdir(run_dir);
	return 0;
}
#else
/* Built without cluster mode (CLUSTER=no): nothing to fuzz. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
#endif
