/*
 * daemon.c - stderr logging and stop signals for long-running commands
 * (daemon.h).
 */
#include "cli/daemon.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

void daemon_stderr_sink(void *ctx, enum log_level level, const char *line, size_t len)
{
    (void)ctx;
    (void)level;
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        line += n;
        len -= (size_t)n;
    }
}

int daemon_signals_begin(const char *who, sigset_t *old, int *sfd)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    *sfd = -1;
    if (pthread_sigmask(SIG_BLOCK, &mask, old) != 0) {
        fprintf(stderr, "%s: cannot block signals\n", who);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    *sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (*sfd < 0) {
        fprintf(stderr, "%s: signalfd: %s\n", who, strerror(errno));
        pthread_sigmask(SIG_SETMASK, old, NULL);
        return -1;
    }
    return 0;
}

void daemon_signals_end(int sfd, const sigset_t *old)
{
    if (sfd >= 0)
        close(sfd);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

int daemon_wait_signal(int sfd, int timeout_ms)
{
    struct signalfd_siginfo si;
    struct pollfd pfd = { .fd = sfd, .events = POLLIN };
    for (;;) {
        int n = poll(&pfd, 1, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        ssize_t got = read(sfd, &si, sizeof si);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got != (ssize_t)sizeof si)
            return -1;
        return (int)si.ssi_signo;
    }
}
