/*
 * pidbench: the measuring driver behind bench/bench.sh.
 *
 * It creates the pid namespace itself (clone with CLONE_NEWPID, as
 * `unshare --pid --fork` does, but without exec'ing unshare each time), so
 * a run costs one clone + the init's exec + the command's exec + wait, and
 * the shell's loop overhead (several ms per fork/exec of unshare) does not
 * drown the differences between inits.
 *
 *   pidbench start N -- INIT...        N runs of INIT as PID 1; prints
 *                                      one line per run: wall µs and the
 *                                      CPU µs of PID 1 and its children
 *   pidbench term N -- INIT...         N SIGTERM round trips: INIT runs
 *                                      `pidbench trap`; prints µs per run
 *   pidbench idle SECS -- INIT...      INIT runs `sleep`; prints "<ctxt
 *                                      switches in SECS> <VmRSS> <RssAnon>"
 *                                      (KiB)
 *   pidbench orphans N -- INIT...      INIT runs `pidbench orph N` in a
 *                                      new mount namespace with its own
 *                                      /proc; prints "<drain µs> <zombies>"
 *   pidbench trap | orph N             the commands run under the init
 *
 * INIT is the init's argv up to and including its `--` if it wants one;
 * an empty INIT (just `--`) runs the command directly as PID 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char self[4096];

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "pidbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* fork() into a new pid namespace (and optionally a new mount namespace):
 * the raw syscall with no stack behaves like fork. */
static pid_t fork_ns(int extra)
{
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | extra | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid < 0)
		die("clone(CLONE_NEWPID)");
	return pid;
}

/* argv for exec: INIT... then the command. */
static char **build_argv(char **init, int ninit, char **cmd, int ncmd)
{
	char **v = calloc((size_t)(ninit + ncmd + 1), sizeof(char *));
	if (!v)
		die("calloc");
	memcpy(v, init, (size_t)ninit * sizeof(char *));
	memcpy(v + ninit, cmd, (size_t)ncmd * sizeof(char *));
	return v;
}

static void quiet(void)
{
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static int wait_status(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return st;
}

static int bench_start(int n, char **argv)
{
	char *cmd[] = { "/bin/true" };
	int ninit = 0, failed = 0;
	while (argv[ninit])
		ninit++;
	char **v = build_argv(argv, ninit, cmd, 1);
	/* A few unmeasured runs bring the binaries into the page cache. */
	for (int i = -5; i < n; i++) {
		long long t0 = now_ns();
		pid_t pid = fork_ns(0);
		if (pid == 0) {
			quiet();
			execv(v[0], v);
			_exit(127);
		}
		int st;
		struct rusage ru;
		while (wait4(pid, &st, 0, &ru) < 0)
			if (errno != EINTR)
				die("wait4");
		long long t1 = now_ns();
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
		/* CPU time of PID 1 and what it reaped: what the machine's
		 * other load cannot inflate the way it does wall time. */
		long cpu = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec +
			   ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec;
		if (i >= 0)
			printf("%.1f %ld\n", (double)(t1 - t0) / 1000.0, cpu);
	}
	if (failed) {
		fprintf(stderr, "pidbench: %d runs of %s did not exit 0\n", failed, v[0]);
		return 1;
	}
	return 0;
}

static volatile sig_atomic_t got_term;
static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

/* The command for `term`: trap TERM, say so on fd 3, exit 0 on TERM. */
static int cmd_trap(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (write(3, "r", 1) != 1)
		return 2;
	close(3);
	while (!got_term)
		pause();
	return 0;
}

static int bench_term(int n, char **argv)
{
	char *cmd[] = { self, "trap" };
	int ninit = 0;
	while (argv[ninit])
		ninit++;
	char **v = build_argv(argv, ninit, cmd, 2);
	for (int i = -2; i < n; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			die("pipe");
		pid_t pid = fork_ns(0);
		if (pid == 0) {
			quiet();
			dup2(p[1], 3); /* without close-on-exec */
			execv(v[0], v);
			_exit(127);
		}
		close(p[1]);
		char c;
		if (read(p[0], &c, 1) != 1) {
			fprintf(stderr, "pidbench: %s did not start the command\n", v[0]);
			return 1;
		}
		close(p[0]);
		/* Let the init settle into its wait. */
		struct timespec settle = { 0, 2000000 };
		nanosleep(&settle, NULL);
		long long t0 = now_ns();
		kill(pid, SIGTERM);
		int st = wait_status(pid);
		long long t1 = now_ns();
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "pidbench: %s ended with status 0x%x after TERM\n", v[0], st);
			return 1;
		}
		if (i >= 0)
			printf("%.1f\n", (double)(t1 - t0) / 1000.0);
	}
	return 0;
}

struct status {
	long ctxt, rss, anon;
};

static int read_status(pid_t pid, struct status *s)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long v;
	s->ctxt = 0;
	s->rss = -1;
	s->anon = -1;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1)
			s->ctxt += v;
		else if (sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1)
			s->ctxt += v;
		else if (sscanf(line, "VmRSS: %ld", &v) == 1)
			s->rss = v;
		else if (sscanf(line, "RssAnon: %ld", &v) == 1)
			s->anon = v;
	}
	fclose(f);
	return 0;
}

static int bench_idle(int secs, char **argv)
{
	char *cmd[] = { "/bin/sleep", "100000" };
	int ninit = 0;
	while (argv[ninit])
		ninit++;
	char **v = build_argv(argv, ninit, cmd, 2);
	pid_t pid = fork_ns(0);
	if (pid == 0) {
		quiet();
		execv(v[0], v);
		_exit(127);
	}
	sleep(1);
	struct status a, b;
	if (read_status(pid, &a) < 0)
		die("read status");
	sleep((unsigned)secs);
	if (read_status(pid, &b) < 0)
		die("read status");
	kill(pid, SIGKILL);
	wait_status(pid);
	printf("%ld %ld %ld\n", b.ctxt - a.ctxt, b.rss, b.anon);
	return 0;
}

/* Pids listed in /proc/1/task/1/children other than `own`; stops counting
 * at `enough`. */
static long other_children(pid_t own, long enough)
{
	static char buf[1 << 20];
	int fd = open("/proc/1/task/1/children", O_RDONLY);
	if (fd < 0)
		die("open /proc/1/task/1/children");
	size_t len = 0;
	ssize_t r;
	while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
		len += (size_t)r;
		if (enough == 1 && len > 32)
			break; /* the first few entries are enough to know */
	}
	close(fd);
	buf[len] = 0;
	long n = 0;
	for (char *s = buf, *end; *s && n < enough; s = end) {
		long p = strtol(s, &end, 10);
		if (end == s)
			break;
		if (p != own)
			n++;
	}
	return n;
}

/* The command for `orphans`: a middle process makes n children that exit
 * at once and leaves them as zombies; when it exits, the kernel hands all
 * n zombies to PID 1 in one go. Times from that hand-over until PID 1 has
 * reaped the last one, so the figure is the init's reaping, not the cost
 * of 10,000 exits. */
static int cmd_orph(int n)
{
	int tp[2];
	if (pipe(tp) < 0)
		die("pipe");
	pid_t mid = fork();
	if (mid < 0)
		die("fork");
	if (mid == 0) {
		int q[2];
		if (pipe(q) < 0)
			die("pipe");
		for (int i = 0; i < n; i++) {
			pid_t g = fork();
			if (g < 0)
				die("fork (orphans)");
			if (g == 0)
				_exit(0); /* a zombie of mid; holds q[1] until then */
		}
		close(q[1]);
		char c;
		while (read(q[0], &c, 1) != 0 && errno == EINTR)
			;
		/* Every child has closed its files; give the last ones time to
		 * finish becoming zombies. */
		struct timespec nap = { 0, 20000000 };
		nanosleep(&nap, NULL);
		long long t0 = now_ns();
		if (write(tp[1], &t0, sizeof t0) != sizeof t0)
			_exit(1);
		_exit(0); /* the zombies now belong to PID 1 */
	}
	close(tp[1]);
	long long t0 = 0, t1;
	if (read(tp[0], &t0, sizeof t0) != sizeof t0) {
		fprintf(stderr, "pidbench: the orphan maker failed\n");
		return 1;
	}
	wait_status(mid);
	pid_t own = getpid();
	long long deadline = t0 + 3000000000LL;
	for (;;) {
		t1 = now_ns();
		if (other_children(own, 1) == 0)
			break;
		if (t1 > deadline)
			break;
		struct timespec nap = { 0, 20000 };
		nanosleep(&nap, NULL);
	}
	long left = other_children(own, n + 1);
	if (left)
		printf("never %ld\n", left);
	else
		printf("%.0f 0\n", (double)(t1 - t0) / 1000.0);
	fflush(stdout);
	return 0;
}

static int bench_orphans(int n, char **argv)
{
	char num[16];
	snprintf(num, sizeof num, "%d", n);
	char *cmd[] = { self, "orph", num };
	int ninit = 0;
	while (argv[ninit])
		ninit++;
	char **v = build_argv(argv, ninit, cmd, 3);
	fflush(stdout);
	pid_t pid = fork_ns(CLONE_NEWNS);
	if (pid == 0) {
		/* Our own /proc, showing the new pid namespace. */
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("mount --make-rprivate /");
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			die("mount proc");
		execv(v[0], v);
		_exit(127);
	}
	int st = wait_status(pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "pidbench: orphans under %s: status 0x%x\n", v[0], st);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (!realpath("/proc/self/exe", self))
		die("realpath /proc/self/exe");
	if (argc >= 2 && !strcmp(argv[1], "trap"))
		return cmd_trap();
	if (argc >= 3 && !strcmp(argv[1], "orph"))
		return cmd_orph(atoi(argv[2]));
	if (argc < 4 || strcmp(argv[3], "--")) {
		fprintf(stderr, "usage: pidbench start|term|idle|orphans N -- [INIT...]\n");
		return 2;
	}
	int n = atoi(argv[2]);
	char **init = argv + 4;
	if (!*init) {
		/* Direct: no init, the command itself is PID 1. */
		static char *none[] = { NULL };
		init = none;
	}
	if (!strcmp(argv[1], "start"))
		return bench_start(n, init);
	if (!strcmp(argv[1], "term"))
		return bench_term(n, init);
	if (!strcmp(argv[1], "idle"))
		return bench_idle(n, init);
	if (!strcmp(argv[1], "orphans"))
		return bench_orphans(n, init);
	fprintf(stderr, "pidbench: unknown mode %s\n", argv[1]);
	return 2;
}
