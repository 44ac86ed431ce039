/* fuzz_conf: libFuzzer target over the config loader: the fuzzer's bytes
 * as an INI file through conf_load and conf_finish, as `im -c FILE` does.
 * It must never crash or leak; an error names the file and line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (path[0] == '\0') {
		snprintf(path, sizeof path, "/tmp/fuzz_conf.%ld.ini", (long)getpid());
	}
	FILE *f = fopen(path, "w");
	if (f == NULL)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	struct conf c;
	char err[512];
	memset(err, 0, sizeof err);
	conf_defaults(&c);
	if (conf_load(&c, path, err, sizeof err) < 0) {
		/* an error names the file, NUL-terminated within err */
		if (memchr(err, '\0', sizeof err) == NULL || strstr(err, path) == NULL)
			abort();
	} else {
		conf_finish(&c, err, sizeof err);
	}
	unlink(path);
	return 0;
}
