/*
 * err.c - tt_strerror and tt_err_name, generated from TT_ERRNO_MAP in telltale.h.
 */
#include "telltale.h"

const char *tt_strerror(int err)
{
    switch (err) {
    case TT_OK:
        return "success";
#define TT_ERRNO_MSG(name, val, msg) \
    case TT_##name:                  \
        return msg;
        TT_ERRNO_MAP(TT_ERRNO_MSG)
#undef TT_ERRNO_MSG
    default:
        return "unknown error";
    }
}

const char *tt_err_name(int err)
{
    switch (err) {
    case TT_OK:
        return "TT_OK";
#define TT_ERRNO_NAME(name, val, msg) \
    case TT_##name:                   \
        return "TT_" #name;
        TT_ERRNO_MAP(TT_ERRNO_NAME)
#undef TT_ERRNO_NAME
    default:
        return "TT_EUNKNOWN";
    }
}
