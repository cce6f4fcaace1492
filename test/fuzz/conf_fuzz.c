/*
 * conf_fuzz.c - libFuzzer harness for the configuration parser
 * (core/conf.c): conf_parse on any text, then conf_validate (alias loop
 * walk included), conf_warnings and conf_print; what conf_print writes
 * must parse again to the same settings. Errors must be one terminated
 * line. Seeds: test/fuzz/corpus/conf/.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf fz_c, fz_back;
static char fz_text[64 * 1024];
static size_t fz_len;

static void
fz_line(void *arg, const char *line)
{
	size_t n = strlen(line);

	(void)arg;
	if (memchr(line, '\n', n) != NULL || memchr(line, '\r', n) != NULL) {
		abort();	/* one setting per line */
	}
	if (fz_len + n + 1 < sizeof(fz_text)) {
		memcpy(fz_text + fz_len, line, n);
		fz_text[fz_len + n] = '\n';
		fz_len += n + 1;
	}
}

static void
fz_check_err(const char *err, size_t len)
{
	if (memchr(err, '\0', len) == NULL || strchr(err, '\n') != NULL) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONF_ERR_MAX], where[CONF_ERR_MAX];

	conf_defaults(&fz_c);
	memset(err, 'x', sizeof(err));
	if (conf_parse(&fz_c, "fuzz.conf", (const char *)data, size, err,
	    sizeof(err)) != 0) {
		fz_check_err(err, sizeof(err));
		return 0;
	}
	memset(err, 'x', sizeof(err));
	if (conf_validate(&fz_c, err, sizeof(err)) != 0) {
		fz_check_err(err, sizeof(err));
	}
	conf_where(&fz_c, "aliases", where, sizeof(where));
	fz_check_err(where, sizeof(where));
	fz_len = 0;
	(void)conf_warnings(&fz_c, fz_line, NULL);
	fz_len = 0;
	conf_print(&fz_c, fz_line, NULL);
	/* the printed settings read back the same */
	conf_defaults(&fz_back);
	if (conf_parse(&fz_back, "printed", fz_text, fz_len, err,
	    sizeof(err)) != 0) {
		abort();
	}
	/* the password is printed as "(set, not shown)" */
	memcpy(fz_back.smtp_sasl_password, fz_c.smtp_sasl_password,
	    sizeof(fz_c.smtp_sasl_password));
	if (memcmp(&fz_back, &fz_c,
	    offsetof(struct conf, file)) != 0) {
		abort();
	}
	return 0;
}
