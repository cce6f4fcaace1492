/*
 * conf_file.c - read the runtime configuration file with stdio and hand
 * its text to the portable parser (core/conf.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux.h"

#define CONF_FILE_MAX (64 * 1024)	/* a config file is small */

const char *
conf_default_path(void)
{
	const char *env = getenv("EDGEMTA_CONFIG");

	if (env != NULL && env[0] != '\0') {
		return env;
	}
	return CONFIG_DEFAULT_CONFIG_FILE;
}

int
conf_load_file(struct conf *c, const char *path, bool missing_ok,
    char *err, size_t errlen)
{
	static char text[CONF_FILE_MAX + 1];
	size_t len;
	FILE *f;
	int r;

	conf_defaults(c);
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno == ENOENT && missing_ok) {
			return 0;
		}
		r = errno == ENOENT ? EDGEMTA_E_NOENT : EDGEMTA_E_INVAL;
		snprintf(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
		return r;
	}
	len = fread(text, 1, sizeof(text), f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
		    strerror(errno));
		fclose(f);
		return EDGEMTA_E_INVAL;
	}
	fclose(f);
	if (len > CONF_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes: is this the "
		    "right file?", path, CONF_FILE_MAX);
		return EDGEMTA_E_INVAL;
	}
	return conf_parse(c, path, text, len, err, errlen);
}
