/* test_agent_config.c - the agent's configuration file and flags
 * (src/agent/agent_config.c): every key read, bad values named with file
 * and line, durations, flags merged over the file, apply. */
#include <stdio.h>
#include <string.h>
#include "unit.h"
#include "tmpdir.h"
#include "agent/agent_config.h"
#include "telltale.h"

static void write_conf(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_read_all_keys(void **state)
{
    char dir[64], path[128], err[512] = "";
    struct agent_file_config c;
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "agentconf"), 0);
    snprintf(path, sizeof path, "%s/agent.conf", dir);
    write_conf(path, "# the agent\n"
                     "server = 10.0.0.1:7071\n"
                     "node = web-1\n"
                     "role = web\n"
                     "release = 2.4.1\n"
                     "interval = 15s\n"
                     "state = /var/lib/telltale/agent\n"
                     "host = no\n"
                     "log_level = info\n"
                     "\n"
                     "scrape = app=http://127.0.0.1:9000/metrics\n"
                     "scrape = http://127.0.0.1:9100/metrics\n"
                     "process = nginx\n"
                     "process = db pidfile=/run/postgresql/main.pid\n"
                     "process = api cgroup=/sys/fs/cgroup/system.slice/api.service\n"
                     "process = py name=python3\n"
                     "file = /etc/app/app.json\n"
                     "file = /etc/app/limits kv\n"
                     "digest = /usr/sbin/nginx libs\n"
                     "digest = /proc/1/root/usr/bin/app as=/usr/bin/app\n"
                     "digest = /opt/app/modules\n"
                     "digest_interval = 30m\n");
    agent_config_init(&c);
    assert_int_equal(agent_config_read(&c, path, err, sizeof err), 0);
    assert_string_equal(c.server, "10.0.0.1:7071");
    assert_string_equal(c.node, "web-1");
    assert_string_equal(c.role, "web");
    assert_string_equal(c.release, "2.4.1");
    assert_int_equal(c.interval_ms, 15000);
    assert_string_equal(c.state, "/var/lib/telltale/agent");
    assert_int_equal(c.host, 0);
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.nscrapes, 2);
    assert_int_equal(c.nprocs, 4);
    assert_string_equal(c.procs[0].label, "nginx");
    assert_string_equal(c.procs[0].arg, "nginx");
    assert_int_equal(c.procs[0].match, PROC_BY_NAME);
    assert_int_equal(c.procs[1].match, PROC_BY_PIDFILE);
    assert_string_equal(c.procs[1].arg, "/run/postgresql/main.pid");
    assert_int_equal(c.procs[2].match, PROC_BY_CGROUP);
    assert_string_equal(c.procs[3].arg, "python3");
    assert_int_equal(c.nfiles, 2);
    assert_int_equal(c.files[0].type, FILEPARSE_AUTO);
    assert_int_equal(c.files[1].type, FILEPARSE_KV);
    assert_int_equal(c.ndigests, 3);
    assert_int_equal(c.digests[0].libs, 1);
    assert_null(c.digests[0].name);
    assert_string_equal(c.digests[1].name, "/usr/bin/app");
    assert_int_equal(c.digest_resend_ms, 1800000);

    struct agent_config ac;
    struct agent_watch_config wc;
    memset(&ac, 0, sizeof ac);
    memset(&wc, 0, sizeof wc);
    ac.host = 1;
    agent_config_apply(&c, &ac, &wc);
    assert_string_equal(ac.node, "web-1");
    assert_int_equal(ac.host, 0);
    assert_int_equal(ac.nscrapes, 2);
    assert_string_equal(ac.scrape_urls[0], "app=http://127.0.0.1:9000/metrics");
    assert_int_equal(wc.nprocs, 4);
    assert_int_equal(wc.nfiles, 2);
    assert_int_equal(wc.ndigests, 3);
    assert_int_equal(wc.digest_resend_ms, 1800000);
    agent_config_release(&c);
    rm_rf(dir);
}

/* bad: each file's problem names the file and its line. */
static void test_bad_values(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "node = a\ninterval = soon\n", ":2: interval: bad duration 'soon'" },
        { "interval = 50ms\n", ":1: interval: bad duration" },
        { "node = a\n\nfrobnicate = 1\n", ":3: unknown setting 'frobnicate'" },
        { "node\n", ":1: expected key = value" },
        { "node =\n", ":1: empty value for 'node'" },
        { "host = maybe\n", ":1: host: bad value 'maybe'" },
        { "process = x pidfile=run/x.pid\n", ":1: process: process 'x': bad absolute path" },
        { "process = x uid=3\n", ":1: process: process 'x': expected name=" },
        { "process = x\nprocess = x pidfile=/a\n", ":2: process: process 'x' configured twice" },
        { "file = etc/app.json\n", ":1: file: expected '/PATH" },
        { "file = /etc/app.xml xml\n", ":1: file: file /etc/app.xml: unknown type 'xml'" },
        { "digest = /usr/bin/x lib\n", ":1: digest: expected '/PATH [libs] [as=/NAME]'" },
        { "digest = /usr/bin/x as=relative\n", ":1: digest: expected" },
    };
    char dir[64], path[128], err[512];
    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof dir, "agentconf"), 0);
    snprintf(path, sizeof path, "%s/bad.conf", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct agent_file_config c;
        agent_config_init(&c);
        write_conf(path, cases[i].text);
        err[0] = '\0';
        int rc = agent_config_read(&c, path, err, sizeof err);
        if (rc == 0 || strstr(err, cases[i].want) == NULL || strstr(err, path) == NULL)
            fprintf(stderr, "case %zu: rc %d, err '%s', want '%s'\n", i, rc, err, cases[i].want);
        assert_true(rc < 0);
        assert_non_null(strstr(err, cases[i].want));
        assert_non_null(strstr(err, path));
        agent_config_release(&c);
    }
    struct agent_file_config c;
    agent_config_init(&c);
    snprintf(path, sizeof path, "%s/none.conf", dir);
    assert_int_equal(agent_config_read(&c, path, err, sizeof err), TT_EIO);
    assert_non_null(strstr(err, "none.conf"));
    agent_config_release(&c);
    rm_rf(dir);
}

static void test_merge(void **state)
{
    struct agent_file_config file, flags;
    char err[256];
    (void)state;
    agent_config_init(&file);
    agent_config_init(&flags);
    assert_int_equal(agent_config_set(&file, "node", "from-file", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&file, "role", "web", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&file, "scrape", "http://a/metrics", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&file, "file", "/etc/a.json", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&file, "process", "a", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&file, "interval", "10s", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&flags, "node", "from-flag", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&flags, "file", "/etc/b.yaml", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&flags, "file", "/etc/c.ini ini", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&flags, "host", "false", err, sizeof err), 0);
    assert_int_equal(agent_config_set(&flags, "nope", "1", err, sizeof err), TT_ENOTFOUND);
    agent_config_merge(&file, &flags);
    assert_string_equal(file.node, "from-flag");
    assert_string_equal(file.role, "web");
    assert_int_equal(file.nscrapes, 1);
    assert_int_equal(file.nfiles, 2); /* the flags' list replaced the file's */
    assert_string_equal(file.files[0].path, "/etc/b.yaml");
    assert_int_equal(file.files[1].type, FILEPARSE_INI);
    assert_int_equal(file.nprocs, 1);
    assert_int_equal(file.interval_ms, 10000);
    assert_int_equal(file.host, 0);
    assert_null(flags.node);
    assert_int_equal(flags.nfiles, 0);
    agent_config_release(&file);
    agent_config_release(&flags);
}

static void test_durations(void **state)
{
    int64_t ms;
    (void)state;
    assert_int_equal(agent_config_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(agent_config_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(agent_config_parse_duration("2d", &ms), 0);
    assert_int_equal(ms, 172800000);
    assert_int_equal(agent_config_parse_duration("", &ms), -1);
    assert_int_equal(agent_config_parse_duration("10", &ms), -1);
    assert_int_equal(agent_config_parse_duration("s", &ms), -1);
    assert_int_equal(agent_config_parse_duration("-1s", &ms), -1);
    assert_int_equal(agent_config_parse_duration("5x", &ms), -1);
    assert_int_equal(agent_config_parse_duration("99999999999s", &ms), -1);
}

UNIT_TESTS(cmocka_unit_test(test_read_all_keys), cmocka_unit_test(test_bad_values),
           cmocka_unit_test(test_merge), cmocka_unit_test(test_durations))
