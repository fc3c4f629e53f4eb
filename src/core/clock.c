/* clock.c - placeholder until the module lands. */
#include "core/clock.h"
