/* compress.c - placeholder until the module lands. */
#include "core/compress.h"
