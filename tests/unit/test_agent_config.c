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
                     "scrape = http://127.0.0.1:9100/metrics interval=30s  timeout=5s env=prod\n"
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
    assert_string_equal(c.scrapes[1],
                        "http://127.0.0.1:9100/metrics interval=30s  timeout=5s env=prod");
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
    assert_int_equal(ac.interval_ms, 15000);
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
        { "node = a\nscrape = ftp://h/m\n", ":2: scrape: scrape 'ftp://h/m': expected '[JOB=]URL" },
        { "scrape = =http://h/m\n", ":1: scrape: scrape '=http://h/m': the job name" },
        { "scrape = http://h/m interval=soon\n",
          "scrape 'http://h/m interval=soon': bad interval 'soon'" },
        { "scrape = http://h/m timeout=0s\n",
          ":1: scrape: scrape 'http://h/m timeout=0s': bad timeout '0s'" },
        { "scrape = http://h/m interval=15s interval=30s\n", ": interval given twice" },
        { "scrape = http://h/m interval=10s timeout=15s\n",
          ":1: scrape: scrape 'http://h/m interval=10s timeout=15s': timeout 15s is longer than "
          "the "
          "target's interval 10s" },
        { "scrape = http://h/m 9lives=x\n", "bad label name '9lives'" },
        { "scrape = http://h/m env-name=x\n", "bad label name 'env-name'" },
        { "scrape = http://h/m job=x\n", "scrape 'http://h/m job=x': label 'job' is reserved" },
        { "scrape = http://h/m instance=x\n", "label 'instance' is reserved" },
        { "scrape = http://h/m __name__=x\n", "label '__name__' is reserved" },
        { "scrape = http://h/m env=\n", "label 'env' has an empty value" },
        { "scrape = http://h/m env=a env=b\n", "label 'env' given twice" },
        { "scrape = http://h/m env\n", "'env': expected interval=D, timeout=D or LABEL=VALUE" },
        { "scrape = http://h/m =x\n", "'=x': expected interval=D" },
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

/* spec: every part of a scrape spec, with and without the collection
 * interval's defaults and checks. */
static void test_scrape_spec(void **state)
{
    struct agent_scrape_spec s;
    char err[512] = "";
    (void)state;
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h:9/m", 0, err, sizeof err), 0);
    assert_string_equal(s.job, "scrape");
    assert_string_equal(s.url, "http://h:9/m");
    assert_int_equal(s.interval_ms, 0);
    assert_int_equal(s.timeout_ms, 0);
    assert_int_equal(s.nlabels, 0);
    agent_scrape_spec_release(&s);
    /* defaults from the collection interval: timeout 10s, or the interval when shorter */
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h:9/m", 15000, err, sizeof err), 0);
    assert_int_equal(s.interval_ms, 15000);
    assert_int_equal(s.timeout_ms, 10000);
    agent_scrape_spec_release(&s);
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h:9/m", 2000, err, sizeof err), 0);
    assert_int_equal(s.interval_ms, 2000);
    assert_int_equal(s.timeout_ms, 2000);
    agent_scrape_spec_release(&s);

    /* options in any order, blanks and tabs, a '=' in the URL's query */
    assert_int_equal(agent_scrape_spec_parse(&s,
                                             "app=https://h/m?x=1\t timeout=500ms env=prod "
                                             "interval=1m _zone9=eu-1",
                                             10000, err, sizeof err),
                     0);
    assert_string_equal(s.job, "app");
    assert_string_equal(s.url, "https://h/m?x=1");
    assert_int_equal(s.interval_ms, 60000);
    assert_int_equal(s.timeout_ms, 500);
    assert_int_equal(s.nlabels, 2);
    assert_string_equal(s.labels[0].name, "env");
    assert_string_equal(s.labels[0].value, "prod");
    assert_string_equal(s.labels[1].name, "_zone9");
    assert_string_equal(s.labels[1].value, "eu-1");
    agent_scrape_spec_release(&s);
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h/m?a=b", 0, err, sizeof err), 0);
    assert_string_equal(s.job, "scrape");
    assert_string_equal(s.url, "http://h/m?a=b");
    agent_scrape_spec_release(&s);

    /* checks that need the collection interval */
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h/m interval=5s", 10000, err, sizeof err),
                     TT_EINVAL);
    assert_non_null(strstr(err, "scrape 'http://h/m interval=5s': interval 5s is shorter than the "
                                "agent's collection interval 10s"));
    assert_null(s.buf);
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h/m interval=5s", 0, err, sizeof err), 0);
    agent_scrape_spec_release(&s);
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h/m timeout=20s", 15000, err, sizeof err),
                     TT_EINVAL);
    assert_non_null(strstr(err, "timeout 20s is longer than the target's interval 15s (the agent's "
                                "collection interval"));
    assert_int_equal(
        agent_scrape_spec_parse(&s, "http://h/m timeout=20s interval=20s", 15000, err, sizeof err),
        0);
    agent_scrape_spec_release(&s);
    assert_int_equal(agent_scrape_spec_parse(&s, "http://h/m interval=90s", 1000, err, sizeof err),
                     0);
    assert_int_equal(s.timeout_ms, 10000);
    agent_scrape_spec_release(&s);

    /* at most AGENT_SCRAPE_MAX_LABELS labels */
    char many[2048] = "http://h/m";
    for (int i = 0; i <= AGENT_SCRAPE_MAX_LABELS; i++) {
        size_t n = strlen(many);
        snprintf(many + n, sizeof many - n, " l%d=v", i);
    }
    assert_int_equal(agent_scrape_spec_parse(&s, many, 0, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "more than 32 labels"));
    *strrchr(many, ' ') = '\0';
    assert_int_equal(agent_scrape_spec_parse(&s, many, 0, err, sizeof err), 0);
    assert_int_equal(s.nlabels, AGENT_SCRAPE_MAX_LABELS);
    agent_scrape_spec_release(&s);

    /* the flag's value is checked as the file's */
    struct agent_file_config c;
    agent_config_init(&c);
    assert_int_equal(agent_config_set(&c, "scrape", "http://h/m instance=x", err, sizeof err),
                     TT_EINVAL);
    assert_non_null(strstr(err, "label 'instance' is reserved"));
    assert_int_equal(c.nscrapes, 0);
    agent_config_release(&c);
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
           cmocka_unit_test(test_merge), cmocka_unit_test(test_scrape_spec),
           cmocka_unit_test(test_durations))
