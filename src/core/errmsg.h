/*
 * errmsg.h - the message half of the TT_E* error convention: functions that
 * take (char *err, size_t errlen) write a one-line reason there; this is the
 * one helper that does it, and a floor division the time-bucketing code
 * shares.
 */
#ifndef TT_CORE_ERRMSG_H
#define TT_CORE_ERRMSG_H

#include <stddef.h>
#include <stdint.h>

/* tt_set_err formats a message into err (errlen bytes, always terminated,
 * truncated if longer); err NULL or errlen 0 writes nothing. */
void tt_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* tt_floor_div: a / b rounded towards minus infinity (b != 0), so that
 * window k * b <= t < (k + 1) * b holds for negative t too. */
static inline int64_t tt_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

#endif
