/* metrics.c - placeholder until the module lands. */
#include "lib/metrics.h"
