/* hlc.c - placeholder until the module lands. */
#include "core/hlc.h"
