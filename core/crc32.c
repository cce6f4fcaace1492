/*
 * crc32.c - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the
 * same values as zlib's crc32(). A 16-entry nibble table keeps flash use
 * at 64 bytes; speed is ample for a queue limited by flash bandwidth.
 */
#include "edgemta.h"

static const uint32_t crc32_nibble[16] = {
	0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu,
	0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
	0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
	0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu
};

/* Chainable: crc32_update(crc32_update(0, a, n), b, m) == crc of a||b. */
uint32_t
crc32_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len-- > 0) {
		crc ^= *p++;
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
	}
	return ~crc;
}
