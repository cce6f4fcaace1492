/*
 * oauth2_fuzz.c - libFuzzer harness for what a token endpoint sends
 * (core/oauth2_parse.c): the input is taken as an HTTP reply, and its
 * body (or, when it is no HTTP, the whole input) as JSON, read with
 * the member names edgemta asks for, into buffers of several sizes. A
 * string read must be NUL-terminated inside its buffer; nothing may
 * read past the input (ASan). Seeds: test/fuzz/corpus/oauth2/.
 */
#include <stdlib.h>
#include <string.h>

#include "oauth2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fz_json(const char *js, size_t len)
{
	static const char *const keys[] = { "access_token", "refresh_token",
		"error", "device_code", "" };
	static const size_t sizes[] = { 1, 8, OAUTH2_TOKEN_MAX };
	char out[OAUTH2_TOKEN_MAX];
	uint32_t n;
	size_t i, k;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			int r = oauth2_json_str(js, len, keys[i], out,
			    sizes[k]);

			if (memchr(out, '\0', sizes[k]) == NULL ||
			    (r != 0 && out[0] != '\0')) {
				abort();
			}
		}
		(void)oauth2_json_num(js, len, keys[i], &n);
	}
	(void)oauth2_json_num(js, len, "expires_in", &n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);	/* exact size: ASan sees */
	const char *body;
	size_t blen;
	int st, eof;

	if (copy == NULL) {
		return 0;
	}
	memcpy(copy, data, size);
	for (eof = 0; eof < 2; eof++) {
		if (oauth2_http_reply(copy, size, eof, &st, &body,
		    &blen) == 0) {
			if (body < copy || body + blen > copy + size) {
				abort();
			}
			fz_json(body, blen);
		}
	}
	fz_json(copy, size);
	free(copy);
	return 0;
}
