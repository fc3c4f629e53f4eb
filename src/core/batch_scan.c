/* batch_scan.c - placeholder until the module lands. */
#include "core/batch_scan.h"
