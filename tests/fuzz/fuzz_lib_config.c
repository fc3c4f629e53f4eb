/*
 * fuzz_lib_config.c - tt_config_set on arbitrary "key\0value" inputs. Checks:
 * a failure leaves the config byte for byte unchanged with a message; a
 * success leaves a config that config_validate accepts, with booleans 0 or 1;
 * and the name filter runs on whatever lists result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "telltale.h"
#include "lib/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* key = bytes before the first NUL (all of it if none), value = the rest. */
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    const char *key = buf;
    const char *value = buf + strlen(buf) + 1;

    tt_config cfg, before;
    tt_config_default(&cfg);
    if (config_validate(&cfg, NULL, 0) != 0)
        abort();
    memcpy(&before, &cfg, sizeof cfg);
    char err[256];
    memset(err, 'x', sizeof err);
    int rc = tt_config_set(&cfg, key, value, err, sizeof err);
    if (rc != 0) {
        if (rc != TT_ENOTFOUND && rc != TT_ESYNTAX && rc != TT_ERANGE)
            abort();
        if (memcmp(&cfg, &before, sizeof cfg) != 0 || !memchr(err, '\0', sizeof err) || !err[0])
            abort();
    } else {
        char verr[256] = "";
        if (config_validate(&cfg, verr, sizeof verr) != 0)
            abort();
        if ((cfg.sample_parent_based | cfg.fsync_segments | cfg.enabled) & ~1)
            abort();
        /* Stored strings are canonical: setting them again changes nothing. */
        static const char *const keys[] = { "SERVICE", "NODE", "SPOOL_DIR", "SPAN_ALLOW",
                                            "SPAN_DENY" };
        const char *fields[] = { cfg.service, cfg.node, cfg.spool_dir, cfg.span_allow,
                                 cfg.span_deny };
        tt_config again;
        memcpy(&again, &cfg, sizeof cfg);
        for (size_t i = 0; i < 5; i++) {
            if (tt_config_set(&again, keys[i], fields[i], NULL, 0) != 0 ||
                memcmp(&again, &cfg, sizeof cfg) != 0)
                abort();
        }
        /* The filter: the first allow pattern (without its '*') is allowed
         * unless denied, and the value as a name never crashes it. */
        char first[TT_LIST_MAX];
        size_t n = strcspn(cfg.span_allow, ",");
        memcpy(first, cfg.span_allow, n);
        first[n] = '\0';
        if (n && first[n - 1] == '*')
            first[n - 1] = '\0';
        if (n && tt_name_allowed(cfg.span_allow, "", first) != 1)
            abort();
        if (tt_name_allowed("", cfg.span_deny, value) && cfg.span_deny[0] == '*')
            abort();
        tt_name_allowed(cfg.span_allow, cfg.span_deny, value);
    }
    free(buf);
    return 0;
}
