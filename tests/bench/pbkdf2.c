/* pbkdf2: measures PBKDF2-HMAC-SHA256 (mbedTLS, through users_pbkdf2) on
 * this machine, to choose pbkdf2_iterations. Prints ms per hash. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "users.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	static const int counts[] = {10000, 100000, 210000, 310000, 600000};
	static const unsigned char salt[USERS_SALT_LEN] = "0123456789abcdef";
	unsigned char out[USERS_HASH_LEN];
	int reps = argc > 1 ? atoi(argv[1]) : 3;
	if (reps < 1)
		reps = 1;
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
		double best = 0;
		for (int r = 0; r < reps; r++) {
			double t0 = now_ms();
			if (users_pbkdf2("correct horse", 13, salt, sizeof salt, counts[i], out, sizeof out) <
			    0) {
				fprintf(stderr, "pbkdf2 failed\n");
				return 1;
			}
			double t = now_ms() - t0;
			if (r == 0 || t < best)
				best = t;
		}
		printf("pbkdf2-sha256 %7d iterations: %8.1f ms per hash (best of %d)\n", counts[i], best,
		       reps);
	}
	return 0;
}
