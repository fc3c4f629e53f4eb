/* test_proc_watch.c - the process collector (src/agent/proc_watch.c) with
 * real processes: a forked child found by name (its comm set with
 * PR_SET_NAME), by pid file and by a fake cgroup directory; killed and
 * started again -> one restart event with the old and new pids, the
 * restart counter, up 0 while it is gone; CPU counters that never go down;
 * bad configuration. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "unit.h"
#include "tmpdir.h"
#include "emit_capture.h"
#include "agent/proc_watch.h"
#include "telltale.h"

/* spawn forks a child named name that burns a little CPU then sleeps, and
 * waits until its comm is set. */
static pid_t spawn(const char *name)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        prctl(PR_SET_NAME, name, 0, 0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0); /* a failed test leaves no child */
        volatile double x = 0;
        for (long i = 0; i < 20000000; i++)
            x += (double)i * 0.5;
        char k = x > 0 ? 'k' : 'z';
        if (write(p[1], &k, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char b;
    assert_int_equal(read(p[0], &b, 1), 1);
    close(p[0]);
    return pid;
}

/* threads_of: the Threads: line of /proc/PID/status (a sanitizer runtime
 * may add threads of its own to a forked child, so tests compare with it). */
static double threads_of(pid_t pid)
{
    char path[64], line[256];
    double n = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "Threads:", 8) == 0)
            n = strtod(line + 8, NULL);
    fclose(f);
    assert_true(n >= 1);
    return n;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void round_of(struct proc_watch *w, struct cap *c, int64_t t)
{
    cap_reset(c);
    struct agent_emit e = cap_emit(c);
    assert_int_equal(proc_watch_collect(w, &e, t), 0);
}

static void write_pid(const char *path, pid_t pid)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%d\n", (int)pid);
    fclose(f);
}

static void test_restart_by_name_and_pidfile(void **state)
{
    char dir[64], pidfile[128], name[16], err[256];
    struct proc_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "procwatch"), 0);
    snprintf(pidfile, sizeof pidfile, "%s/app.pid", dir);
    snprintf(name, sizeof name, "ttpw%d", (int)getpid() % 100000);

    pid_t a = spawn(name);
    write_pid(pidfile, a);
    struct proc_spec specs[] = {
        { "byname", PROC_BY_NAME, name },
        { "bypid", PROC_BY_PIDFILE, pidfile },
    };
    assert_int_equal(proc_watch_new(&w, specs, 2, NULL, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_true(cap_value(&c, "telltale_process_up{process=byname}") == 1);
    assert_true(cap_value(&c, "telltale_process_count{process=byname}") == 1);
    assert_true(cap_value(&c, "telltale_process_up{process=bypid}") == 1);
    assert_true(cap_value(&c, "telltale_process_threads{process=bypid}") == threads_of(a));
    assert_true(cap_value(&c, "telltale_process_resident_memory_bytes{process=bypid}") > 0);
    assert_true(cap_value(&c, "telltale_process_open_fds{process=bypid}") >= 0);
    assert_true(cap_value(&c, "telltale_process_restarts_total{process=bypid}") == 0);
    double cpu0 = cap_value(&c, "telltale_process_cpu_seconds_total{process=byname,mode=user}");
    assert_true(cpu0 >= 0);
    double start = cap_value(&c, "telltale_process_start_time_seconds{process=bypid}");
    assert_true(start > (double)time(NULL) - 120 && start <= (double)time(NULL) + 1);
    assert_int_equal(c.nevents, 0);

    /* gone: up 0, no event yet */
    reap(a);
    round_of(w, &c, 2000);
    assert_true(cap_value(&c, "telltale_process_up{process=byname}") == 0);
    assert_true(cap_value(&c, "telltale_process_up{process=bypid}") == 0);
    double cpu1 = cap_value(&c, "telltale_process_cpu_seconds_total{process=byname,mode=user}");
    assert_true(cpu1 >= cpu0); /* the exited process's CPU is kept */
    assert_int_equal(c.nevents, 0);

    /* back with a new pid: one restart per group */
    pid_t b = spawn(name);
    assert_true(b != a);
    write_pid(pidfile, b);
    round_of(w, &c, 3000);
    assert_true(cap_value(&c, "telltale_process_up{process=byname}") == 1);
    assert_true(cap_value(&c, "telltale_process_restarts_total{process=byname}") == 1);
    assert_true(cap_value(&c, "telltale_process_restarts_total{process=bypid}") == 1);
    assert_int_equal(c.nevents, 2);
    char op[32], np[32], nm[40];
    snprintf(op, sizeof op, "old_pid=%d", (int)a);
    snprintf(np, sizeof np, "new_pid=%d", (int)b);
    snprintf(nm, sizeof nm, "name=%s", name);
    for (size_t i = 0; i < 2; i++) {
        const struct cap_event *ev = &c.events[i];
        assert_string_equal(ev->name, "telltale.process.restarted");
        assert_int_equal(ev->severity, TT_SEV_WARNING);
        assert_true(cap_attr_has(ev, op));
        assert_true(cap_attr_has(ev, np));
        assert_true(cap_attr_has(ev, nm));
    }
    double cpu2 = cap_value(&c, "telltale_process_cpu_seconds_total{process=byname,mode=user}");
    assert_true(cpu2 >= cpu1);

    /* steady: no new event */
    round_of(w, &c, 4000);
    assert_int_equal(c.nevents, 0);
    assert_true(cap_value(&c, "telltale_process_restarts_total{process=byname}") == 1);

    reap(b);
    cap_free(&c);
    proc_watch_free(w);
    rm_rf(dir);
}

static void test_cgroup(void **state)
{
    char dir[64], sub[128], procs[160], err[256];
    struct proc_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    /* A cgroup v2 directory as the kernel shows it: cgroup.procs here and in
     * a child cgroup. */
    assert_int_equal(tmpdir_make(dir, sizeof dir, "procwatch"), 0);
    snprintf(sub, sizeof sub, "%s/worker", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    pid_t a = spawn("ttpw-cg1"), b = spawn("ttpw-cg2");
    snprintf(procs, sizeof procs, "%s/cgroup.procs", dir);
    write_pid(procs, a);
    snprintf(procs, sizeof procs, "%s/cgroup.procs", sub);
    write_pid(procs, b);
    struct proc_spec spec = { "svc", PROC_BY_CGROUP, dir };
    assert_int_equal(proc_watch_new(&w, &spec, 1, NULL, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_true(cap_value(&c, "telltale_process_count{process=svc}") == 2);
    assert_true(cap_value(&c, "telltale_process_threads{process=svc}") ==
                threads_of(a) + threads_of(b));
    /* the worker exits: no restart (the main process, the oldest, stays) */
    reap(b);
    round_of(w, &c, 2000);
    assert_true(cap_value(&c, "telltale_process_count{process=svc}") == 1);
    assert_int_equal(c.nevents, 0);
    reap(a);
    cap_free(&c);
    proc_watch_free(w);
    rm_rf(dir);
}

static void test_bad_config(void **state)
{
    struct proc_watch *w = NULL;
    char err[256] = "";
    (void)state;
    struct proc_spec rel = { "x", PROC_BY_PIDFILE, "run/x.pid" };
    assert_int_equal(proc_watch_new(&w, &rel, 1, NULL, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "run/x.pid"));
    struct proc_spec twice[] = { { "x", PROC_BY_NAME, "a" }, { "x", PROC_BY_NAME, "b" } };
    assert_int_equal(proc_watch_new(&w, twice, 2, NULL, err, sizeof err), TT_EINVAL);
    assert_non_null(strstr(err, "twice"));
    struct proc_spec empty = { "", PROC_BY_NAME, "a" };
    assert_int_equal(proc_watch_new(&w, &empty, 1, NULL, err, sizeof err), TT_EINVAL);
    assert_null(w);
}

static void test_pidfile_garbage(void **state)
{
    char dir[64], pidfile[128], err[256];
    struct proc_watch *w = NULL;
    struct cap c;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(tmpdir_make(dir, sizeof dir, "procwatch"), 0);
    snprintf(pidfile, sizeof pidfile, "%s/app.pid", dir);
    FILE *f = fopen(pidfile, "w");
    assert_non_null(f);
    fputs("not a pid\n", f);
    fclose(f);
    struct proc_spec spec = { "app", PROC_BY_PIDFILE, pidfile };
    assert_int_equal(proc_watch_new(&w, &spec, 1, NULL, err, sizeof err), 0);
    round_of(w, &c, 1000);
    assert_true(cap_value(&c, "telltale_process_up{process=app}") == 0);
    assert_true(cap_value(&c, "telltale_process_count{process=app}") == 0);
    cap_free(&c);
    proc_watch_free(w);
    rm_rf(dir);
}

UNIT_TESTS(cmocka_unit_test(test_restart_by_name_and_pidfile), cmocka_unit_test(test_cgroup),
           cmocka_unit_test(test_bad_config), cmocka_unit_test(test_pidfile_garbage))
