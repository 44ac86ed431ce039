/* fuzz_users: libFuzzer target over the users file line codec: any line
 * that parses must format back to exactly itself and parse to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "users.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct users_rec r, back;
	char line[USERS_LINE_MAX + 1];
	memset(&r, 0, sizeof r);
	if (users_parse_line((const char *)data, size, &r) != 0)
		return 0;
	int n = users_format_line(&r, line, sizeof line);
	if (n < 0 || (size_t)n != size || memcmp(line, data, size) != 0)
		abort();
	memset(&back, 0, sizeof back);
	if (users_parse_line(line, (size_t)n, &back) != 0 || memcmp(&r, &back, sizeof r) != 0)
		abort();
	return 0;
}
