/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every batch.
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
 * time), a slice-by-8 table otherwise. Both give identical results.
 */
#ifndef TT_CRC32C_H
#define TT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c extends crc (0 to start) over len bytes of buf. */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
/* crc32c_sw is the table implementation, exported for tests and benchmarks. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
/* crc32c_hw_available reports whether the hardware path is in use. */
int crc32c_hw_available(void);

#endif
