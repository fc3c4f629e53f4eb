/* buf.c - placeholder until the module lands. */
#include "core/buf.h"
