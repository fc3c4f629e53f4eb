/*
 * banned.h - functions Telltale code must not call, turned into compile errors.
 *
 * Force-included into every translation unit (see cmake/Flags.cmake). Each of
 * these has a bounded or thread-safe replacement: snprintf for sprintf, memcpy
 * with an explicit length for strcpy/strcat, strtol/strtoull with an end
 * pointer for atoi/atol, strtok_r for strtok, gmtime_r/localtime_r for
 * gmtime/localtime, and so on. (After git's banned.h.)
 */
#ifndef TT_BANNED_H
#define TT_BANNED_H

/* System headers must be seen before the macros below poison the names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TT_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) TT_BANNED(strcpy)
#undef strcat
#define strcat(x, y) TT_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) TT_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) TT_BANNED(strncat)
#undef sprintf
#define sprintf(...) TT_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) TT_BANNED(vsprintf)
#undef gets
#define gets(x) TT_BANNED(gets)
#undef strtok
#define strtok(x, y) TT_BANNED(strtok)
#undef atoi
#define atoi(x) TT_BANNED(atoi)
#undef atol
#define atol(x) TT_BANNED(atol)
#undef atoll
#define atoll(x) TT_BANNED(atoll)
#undef atof
#define atof(x) TT_BANNED(atof)
#undef gmtime
#define gmtime(x) TT_BANNED(gmtime)
#undef localtime
#define localtime(x) TT_BANNED(localtime)
#undef ctime
#define ctime(x) TT_BANNED(ctime)
#undef asctime
#define asctime(x) TT_BANNED(asctime)
#undef tmpnam
#define tmpnam(x) TT_BANNED(tmpnam)

#endif
