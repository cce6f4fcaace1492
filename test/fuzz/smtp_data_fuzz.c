/*
 * smtp_data_fuzz.c - libFuzzer harness for the DATA decoder.
 *
 * The input is decoded whole, byte by byte and in place; all three must
 * agree (same end, same error, same output), and output never outruns
 * input.
 *
 * clang -fsanitize=fuzzer,address,undefined -Ibuild/include -Icore
 *   -Iplatform test/fuzz/smtp_data_fuzz.c core/smtp_data.c
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

static void
run(const uint8_t *in, size_t len, size_t step, uint8_t *out, size_t *olen,
    size_t *used, struct smtp_data *d)
{
	size_t off = 0;

	smtp_data_init(d, 4096);
	*olen = 0;
	while (off < len && !d->done) {
		size_t n = MIN(step, len - off), o, u;

		u = smtp_data_feed(d, in + off, n, out + *olen, &o);
		if (o > u || u > n) {
			abort();
		}
		*olen += o;
		off += u;
	}
	*used = off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t a[65536], b[65536], c[65536];
	struct smtp_data d1, d2, d3;
	size_t o1, o2, o3, u1, u2, u3;

	if (size > sizeof(a)) {
		return 0;
	}
	run(data, size, size + 1, a, &o1, &u1, &d1);
	run(data, size, 1, b, &o2, &u2, &d2);
	memcpy(c, data, size);
	smtp_data_init(&d3, 4096);
	u3 = smtp_data_feed(&d3, c, size, c, &o3);
	if (o1 != o2 || u1 != u2 || d1.done != d2.done || d1.err != d2.err ||
	    memcmp(a, b, o1) != 0) {
		abort();
	}
	if (o1 != o3 || u1 != u3 || d1.err != d3.err ||
	    memcmp(a, c, o1) != 0) {
		abort();
	}
	/* accepted output is CRLF text: no bare CR/LF, no NUL */
	if (d1.done && d1.err == SMTP_DATA_OK) {
		size_t i;

		for (i = 0; i < o1; i++) {
			if (a[i] == '\0' || (a[i] == '\n' &&
			    (i == 0 || a[i - 1] != '\r')) ||
			    (a[i] == '\r' && (i + 1 >= o1 ||
			    a[i + 1] != '\n'))) {
				abort();
			}
		}
	}
	return 0;
}
