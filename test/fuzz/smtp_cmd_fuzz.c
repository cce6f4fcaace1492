/*
 * smtp_cmd_fuzz.c - libFuzzer harness for the command framing and the
 * MAIL/RCPT parsers.
 *
 * clang -fsanitize=fuzzer,address,undefined -Ibuild/include -Icore
 *   -Iplatform test/fuzz/smtp_cmd_fuzz.c core/smtp_cmd.c core/addr.c
 */
#include <stdlib.h>
#include <string.h>

#include "smtp_cmd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, guard;

	for (guard = 0; guard < 10000 && off < size; guard++) {
		char line[SMTP_CMD_LINE_MAX];
		struct smtp_cmd_mail m;
		char addr[ADDR_MAX];
		const char *arg;
		size_t ll, used;
		int f;

		f = smtp_cmd_frame(data + off, size - off, &ll, &used);
		if (f == SMTP_CMD_F_PARTIAL) {
			break;
		}
		if (used == 0 || used > size - off || ll >= sizeof(line)) {
			abort();
		}
		if (f == SMTP_CMD_F_LINE) {
			if (memchr(data + off, '\0', ll) != NULL) {
				abort();
			}
			memcpy(line, data + off, ll);
			line[ll] = '\0';
			switch (smtp_cmd_parse(line, &arg)) {
			case SMTP_CMD_MAIL:
				(void)smtp_cmd_mail(arg, &m);
				break;
			case SMTP_CMD_RCPT:
				(void)smtp_cmd_rcpt(arg, addr);
				break;
			default:
				(void)smtp_cmd_mail(arg, &m);
				(void)smtp_cmd_rcpt(arg, addr);
				break;
			}
		}
		off += used;
	}
	return 0;
}
