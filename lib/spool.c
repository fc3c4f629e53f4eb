/* spool.c - placeholder until the module lands. */
#include "lib/spool.h"
