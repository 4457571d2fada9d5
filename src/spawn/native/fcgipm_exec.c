/*
 * fcgipm-exec: sets up a worker's limits and identity, then execs the worker in its place.
 *
 *   fcgipm-exec [--nofile N] [--core N] [--as N] [--nproc N] [--nice N] [--umask OCTAL]
 *               [--groups G1,G2] [--gid N] [--uid N] -- PATH ARG0 [ARG...]
 *
 * Node's child_process.spawn runs nothing of ours between fork and exec, so WorkerProcess
 * spawns this program instead of the worker when a pool has rlimits, nice, umask, groups or
 * a uid/gid (docs/native-addon.md "The exec helper"). mod_fcgid applies none of its RLimit*
 * settings (mod_fcgid 2.3.9); php-fpm sets rlimit_files, rlimit_core and
 * process.priority per pool.
 *
 * In this order, each step only when its option was given:
 *   1. setrlimit for nofile, core, as, nproc: soft and hard both N ("unlimited" allowed);
 *   2. setpriority(PRIO_PROCESS, 0, N): an absolute nice value;
 *   3. umask;
 *   4. setgroups: the --groups list ("" is the empty list); without --groups, the empty list
 *      when --uid or --gid is given and we are root (as libuv does for Node's own uid/gid),
 *      so no supplementary group of the manager survives;
 *   5. setgid, then setuid, then a check that the drop stuck: setgid(0) and setuid(0) must fail;
 *   6. execv(PATH, [ARG0, ARG...]) with the environment untouched.
 * Limits and nice come before the identity change because raising a hard limit or lowering
 * nice needs the manager's privileges. The pid stays the same throughout (exec in place), the
 * process group and cwd the spawner set stay, and so do the descriptors: this program opens
 * none and leaves 0, 1 and 2 as it found them (fd 0 is the worker's listening socket).
 *
 * On failure it writes exactly one line to fd 2, `fcgipm-exec: <call>(<args>): <reason>`,
 * in a single write(2) of at most PIPE_BUF bytes (so it arrives whole), and exits 126 when
 * it failed before exec, 127 when exec itself failed. It uses write(2) and snprintf, no stdio
 * stream, and never calls setlocale, so strerror needs no message catalogue.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define EXIT_SETUP_FAILED 126
#define EXIT_EXEC_FAILED 127
/* The longest (call arguments) part of the error line; a longer one is cut and marked "...". */
#define MAX_ARGS_TEXT 3072
/* Largest uid or gid accepted: (uid_t)-1 means "unchanged" to the kernel. */
#define MAX_ID 4294967294ULL

struct limit {
    const char *option;
    const char *name;
    int resource;
    int set;
    rlim_t value;
};

static struct limit limits[] = {
    {"--nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE, 0, 0},
    {"--core", "RLIMIT_CORE", RLIMIT_CORE, 0, 0},
    {"--as", "RLIMIT_AS", RLIMIT_AS, 0, 0},
    {"--nproc", "RLIMIT_NPROC", RLIMIT_NPROC, 0, 0},
};
#define NLIMITS (sizeof limits / sizeof limits[0])

static gid_t groups[NGROUPS_MAX];
static size_t ngroups;

/* Writes `fcgipm-exec: <call>(<args>): <reason>\n` to fd 2 in one write and exits. */
static void fail(int status, const char *reason, const char *call, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

static void fail(int status, const char *reason, const char *call, const char *fmt, ...)
{
    char args[MAX_ARGS_TEXT + 4];
    char line[PIPE_BUF];
    va_list ap;
    int n;
    size_t len;

    va_start(ap, fmt);
    n = vsnprintf(args, MAX_ARGS_TEXT + 1, fmt, ap);
    va_end(ap);
    if (n < 0) args[0] = '\0';
    else if (n > MAX_ARGS_TEXT) strcpy(args + MAX_ARGS_TEXT, "...");
    n = snprintf(line, sizeof line - 1, "fcgipm-exec: %s(%s): %s", call, args, reason);
    len = n < 0 ? 0 : (size_t)n < sizeof line - 1 ? (size_t)n : sizeof line - 2;
    line[len++] = '\n';
    while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR) {
    }
    _exit(status);
}

/* A bad command line: "argument(--nofile abc): Invalid argument". */
static void bad_argument(int err, const char *option, const char *value) __attribute__((noreturn));

static void bad_argument(int err, const char *option, const char *value)
{
    fail(EXIT_SETUP_FAILED, strerror(err), "argument", "%s %s", option, value);
}

/* A decimal number in [0, max], digits only (strtoull alone would accept "-1" and " 1"). */
static unsigned long long parse_unsigned(const char *option, const char *text, unsigned long long max)
{
    unsigned long long v;
    char *end;

    if (text[0] < '0' || text[0] > '9') bad_argument(EINVAL, option, text);
    errno = 0;
    v = strtoull(text, &end, 10);
    if (*end != '\0') bad_argument(EINVAL, option, text);
    if (errno == ERANGE || v > max) bad_argument(ERANGE, option, text);
    return v;
}

static rlim_t parse_rlimit(const char *option, const char *text)
{
    if (strcmp(text, "unlimited") == 0) return RLIM_INFINITY;
    return (rlim_t)parse_unsigned(option, text, (unsigned long long)RLIM_INFINITY - 1);
}

/* -20 (highest priority) to 19 (lowest), as setpriority takes it. */
static int parse_nice(const char *text)
{
    const char *digits = text[0] == '-' ? text + 1 : text;
    long n;
    char *end;

    if (digits[0] < '0' || digits[0] > '9') bad_argument(EINVAL, "--nice", text);
    errno = 0;
    n = strtol(text, &end, 10);
    if (*end != '\0') bad_argument(EINVAL, "--nice", text);
    if (errno == ERANGE || n < -20 || n > 19) bad_argument(ERANGE, "--nice", text);
    return (int)n;
}

static mode_t parse_umask(const char *text)
{
    unsigned long v;
    char *end;

    if (text[0] < '0' || text[0] > '7') bad_argument(EINVAL, "--umask", text);
    errno = 0;
    v = strtoul(text, &end, 8);
    if (*end != '\0') bad_argument(EINVAL, "--umask", text);
    if (errno == ERANGE || v > 0777) bad_argument(ERANGE, "--umask", text);
    return (mode_t)v;
}

/* "G1,G2,..." into groups[]; the empty string is the empty list. */
static void parse_groups(const char *text)
{
    char one[32];
    const char *p = text;

    ngroups = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

        if (len == 0 || len >= sizeof one) bad_argument(EINVAL, "--groups", text);
        if (ngroups == NGROUPS_MAX) bad_argument(E2BIG, "--groups", text);
        memcpy(one, p, len);
        one[len] = '\0';
        groups[ngroups++] = (gid_t)parse_unsigned("--groups", one, MAX_ID);
        p += len;
        if (*p == ',') {
            p++;
            if (*p == '\0') bad_argument(EINVAL, "--groups", text);
        }
    }
}

/* "100,200" for the error line; cut (with "...") when it does not fit. */
static const char *groups_text(void)
{
    static char text[MAX_ARGS_TEXT];
    size_t used = 0, i;

    text[0] = '\0';
    for (i = 0; i < ngroups; i++) {
        int n = snprintf(text + used, sizeof text - used, i == 0 ? "%lu" : ",%lu", (unsigned long)groups[i]);

        if (n < 0 || (size_t)n >= sizeof text - used - 4) {
            strcpy(text + used, "...");
            break;
        }
        used += (size_t)n;
    }
    return text;
}

static const char *rlimit_text(rlim_t v, char *buf, size_t size)
{
    if (v == RLIM_INFINITY) return "unlimited";
    snprintf(buf, size, "%llu", (unsigned long long)v);
    return buf;
}

int main(int argc, char **argv)
{
    int have_nice = 0, have_umask = 0, have_groups = 0, have_gid = 0, have_uid = 0;
    int nice_value = 0;
    mode_t mask = 0;
    gid_t gid = 0;
    uid_t uid = 0;
    const char *path;
    size_t i;
    int a;

    for (a = 1; a < argc; a++) {
        const char *option = argv[a];
        const char *value;
        int known = 0;

        if (strcmp(option, "--") == 0) break;
        if (a + 1 >= argc || strcmp(argv[a + 1], "--") == 0) bad_argument(EINVAL, option, "(no value)");
        value = argv[++a];
        for (i = 0; i < NLIMITS; i++) {
            if (strcmp(option, limits[i].option) == 0) {
                limits[i].value = parse_rlimit(option, value);
                limits[i].set = known = 1;
            }
        }
        if (known) continue;
        if (strcmp(option, "--nice") == 0) {
            nice_value = parse_nice(value);
            have_nice = 1;
        } else if (strcmp(option, "--umask") == 0) {
            mask = parse_umask(value);
            have_umask = 1;
        } else if (strcmp(option, "--groups") == 0) {
            parse_groups(value);
            have_groups = 1;
        } else if (strcmp(option, "--gid") == 0) {
            gid = (gid_t)parse_unsigned(option, value, MAX_ID);
            have_gid = 1;
        } else if (strcmp(option, "--uid") == 0) {
            uid = (uid_t)parse_unsigned(option, value, MAX_ID);
            have_uid = 1;
        } else {
            bad_argument(EINVAL, option, value);
        }
    }
    /* argv[a] is "--"; PATH and ARG0 must follow. */
    if (a + 2 >= argc) bad_argument(EINVAL, "--", "PATH ARG0 [ARG...] missing");
    path = argv[a + 1];

    /* 1. Limits, while we still may raise them. */
    for (i = 0; i < NLIMITS; i++) {
        struct rlimit rl;
        char shown[32];

        if (!limits[i].set) continue;
        rl.rlim_cur = rl.rlim_max = limits[i].value;
        if (setrlimit(limits[i].resource, &rl) != 0)
            fail(EXIT_SETUP_FAILED, strerror(errno), "setrlimit", "%s, %s", limits[i].name,
                 rlimit_text(limits[i].value, shown, sizeof shown));
    }

    /* 2. Nice: an absolute value, so a worker is never niced relative to the manager. */
    if (have_nice && setpriority(PRIO_PROCESS, 0, nice_value) != 0)
        fail(EXIT_SETUP_FAILED, strerror(errno), "setpriority", "PRIO_PROCESS, 0, %d", nice_value);

    /* 3. umask cannot fail. */
    if (have_umask) umask(mask);

    /* 4. Supplementary groups, before setuid takes the right to change them away. */
    if (have_groups) {
        if (setgroups(ngroups, groups) != 0) fail(EXIT_SETUP_FAILED, strerror(errno), "setgroups", "%s", groups_text());
    } else if ((have_uid || have_gid) && geteuid() == 0) {
        if (setgroups(0, NULL) != 0) fail(EXIT_SETUP_FAILED, strerror(errno), "setgroups", "%s", "");
    }

    /* 5. Group, then user: after setuid we could no longer change the group. */
    if (have_gid) {
        if (setgid(gid) != 0) fail(EXIT_SETUP_FAILED, strerror(errno), "setgid", "%lu", (unsigned long)gid);
        if (getgid() != gid || getegid() != gid)
            fail(EXIT_SETUP_FAILED, "group ids did not change", "setgid", "%lu", (unsigned long)gid);
    }
    if (have_uid) {
        if (setuid(uid) != 0) fail(EXIT_SETUP_FAILED, strerror(errno), "setuid", "%lu", (unsigned long)uid);
        if (getuid() != uid || geteuid() != uid)
            fail(EXIT_SETUP_FAILED, "user ids did not change", "setuid", "%lu", (unsigned long)uid);
        /* A saved set-user-id of 0 (or a capability) would let the worker become root again. */
        if (uid != 0 && setuid(0) == 0)
            fail(EXIT_SETUP_FAILED, "privileges were not dropped", "setuid", "0 after setuid(%lu)", (unsigned long)uid);
        if (uid != 0 && have_gid && gid != 0 && setgid(0) == 0)
            fail(EXIT_SETUP_FAILED, "privileges were not dropped", "setgid", "0 after setgid(%lu)", (unsigned long)gid);
    }

    /* 6. In place: same pid, same descriptors, same environment. */
    execv(path, argv + a + 2);
    fail(EXIT_EXEC_FAILED, strerror(errno), "execv", "%s", path);
}
