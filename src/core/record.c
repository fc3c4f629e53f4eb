/* record.c - placeholder until the module lands. */
#include "core/record.h"
