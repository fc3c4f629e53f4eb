/* batch.c - placeholder until the module lands. */
#include "core/batch.h"
