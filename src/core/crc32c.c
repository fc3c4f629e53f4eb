/* crc32c.c - placeholder until the module lands. */
#include "core/crc32c.h"
