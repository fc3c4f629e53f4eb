/* loglin.c - placeholder until the module lands. */
#include "core/loglin.h"
