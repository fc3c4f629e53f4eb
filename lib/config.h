/*
 * config.h - libtelltale's configuration helpers (internal): validation of a
 * whole tt_config and the span name allow/deny matcher of the hot path.
 *
 * The public side (tt_config_default, tt_config_set, tt_config_from_env) is
 * declared in include/telltale.h; value syntax and ranges are described at the
 * top of lib/config.c.
 */
#ifndef TT_LIB_CONFIG_H
#define TT_LIB_CONFIG_H

#include <stddef.h>
#include "telltale.h"

/* config_validate checks that every field of cfg is within what
 * tt_config_set would accept (names and paths NUL-terminated, non-empty, free
 * of control characters; sizes, durations and ratios in range; lists
 * well-formed). For tt_init, on a config the application filled by hand.
 * Returns 0, or TT_ESYNTAX/TT_ERANGE with "KEY: problem" in errbuf (errlen
 * bytes, may be 0). */
int config_validate(const tt_config *cfg, char *errbuf, size_t errlen);

/* tt_name_allowed says whether a span named name passes the filters: allowed
 * if allow is empty or name matches one of its patterns, and name matches no
 * pattern of deny. allow and deny are comma-separated pattern lists as stored
 * in tt_config (NULL counts as empty); a pattern ending in '*' matches every
 * name starting with what precedes the '*', any other pattern matches only
 * the name equal to it. Never allocates; borrowed pointers only. Returns 1
 * or 0. */
int tt_name_allowed(const char *allow, const char *deny, const char *name);

#endif
