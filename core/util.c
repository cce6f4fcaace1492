/*
 * util.c - small helpers shared by the core.
 */
#include "edgemta.h"

const char *
edgemta_strerror(int err)
{
	switch (err) {
	case EDGEMTA_OK:
		return "success";
	case EDGEMTA_E_AGAIN:
		return "try again";
	case EDGEMTA_E_IO:
		return "I/O error";
	case EDGEMTA_E_FULL:
		return "no space left";
	case EDGEMTA_E_PROTO:
		return "protocol error";
	case EDGEMTA_E_INVAL:
		return "invalid argument";
	case EDGEMTA_E_NOENT:
		return "not found";
	case EDGEMTA_E_CORRUPT:
		return "data corrupted";
	case EDGEMTA_E_VERSION:
		return "unsupported format version";
	case EDGEMTA_E_CLOSED:
		return "connection closed";
	case EDGEMTA_E_TIMEOUT:
		return "timed out";
	case EDGEMTA_E_INPROGRESS:
		return "in progress";
	case EDGEMTA_E_TOOBIG:
		return "too big";
	case EDGEMTA_E_LOCKED:
		return "locked by another process";
	default:
		return "unknown error";
	}
}

int
hex_digit_val(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	if (c >= 'A' && c <= 'F') {
		return c - 'A' + 10;
	}
	return -1;
}
