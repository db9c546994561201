/* The traced program comes first: liblttng-ust runs listener threads
 * and keeps a dozen file descriptors in every traced process. Here the
 * preload library keeps them from changing what the program does or sees:
 *
 * - Process end. glibc ends a process when its last thread exits
 *   (exit(0), atexit handlers run). LTTng's threads would keep it alive: a
 *   fork child whose only thread returns would never end. Application
 *   threads are counted (pthread_create), and when the last one exits while
 *   only LTTng's remain, it calls exit(0) as glibc would have.
 * - Thread count. CPython 3.12+ warns at fork() when /proc/self/stat says
 *   the process has more than one thread: reading /proc/self/stat through
 *   fopen gives the count without LTTng's threads.
 * - File descriptors. Every descriptor liblttng-ust keeps passes through
 *   lttng_ust_add_fd_to_tracker(); it is moved out of the range the program
 *   allocates from: above the soft RLIMIT_NOFILE when the hard limit
 *   allows, else to the top of the range. The program's closes (close,
 *   close_range, closefrom) leave them open: liblttng-ust aborts on
 *   finding one closed.
 *
 * - Thread names. The Python-side hook names threads through
 *   os.unsetenv("__gilscope_thread_name_<hex>"), which reaches libc's
 *   unsetenv() here: no ctypes, whose import costs milliseconds and, with
 *   libffi 3.5, a file descriptor.
 * - Start-up. liblttng-ust's statedump of loaded libraries is turned off
 *   (process_lttng_begin): no gilscope session records it; its ring
 *   buffers are mapped without MAP_POPULATE (mmap).
 *
 * docs/tracer.md ("What the traced program can see") says what remains.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload_process.h"
#include "attrib.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define EXPORT __attribute__((visibility("default")))
#define TLS static __thread __attribute__((tls_model("initial-exec")))

/* Values of the thread key: which kind of thread ends. */
static char mark_app, mark_lttng;

static atomic_int g_on;          /* a traced CPython: count and hide */
static pthread_key_t g_key;
static atomic_int g_app;         /* application threads alive */
static atomic_int g_lttng;       /* LTTng's threads alive */
static pthread_mutex_t g_rlimit_lock = PTHREAD_MUTEX_INITIALIZER;

TLS int t_lttng_init;            /* this thread is starting LTTng */
TLS int t_lttng_thread;          /* this thread is one of LTTng's */
TLS int t_dtor_round;

static struct {
	int (*thread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
	FILE *(*fopen)(const char *, const char *);
	FILE *(*fopen64)(const char *, const char *);
	int (*add_fd)(int);
	int (*unsetenv)(const char *);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*close_range)(unsigned int, unsigned int, int);
	void (*closefrom)(int);
	void (*delete_fd)(int);
	void (*lock_fd)(void);
	void (*unlock_fd)(void);
	int (*close)(int);
	int (*sem_timedwait)(sem_t *, const struct timespec *);
	int (*munmap)(void *, size_t);
	int (*cancel)(pthread_t);
} real;

typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);
static sigmask_fn real_pthread_sigmask, real_sigprocmask;

TLS int t_fd_nest;               /* inside LTTng's fd-tracker lock */

/* LTTng's descriptors (after fd_move_out), kept from bulk closes: fd + 1,
 * 0 for a free slot. */
#define LTTNG_FDS_MAX 1024
static atomic_int g_lttng_fds[LTTNG_FDS_MAX];
static atomic_int g_lttng_fds_used;      /* slots ever used: the scans' end */
static atomic_int g_lttng_fd_min = INT_MAX; /* below it, no LTTng descriptor */

static void *next_symbol(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		fprintf(stderr, "gilscope: cannot find the real %s: %s\n", name, dlerror());
		abort();
	}
	return p;
}

/* The GLIBC_2.34 sem_timedwait that liblttng-ust calls, not an older one. */
static int (*next_sem_timedwait(void))(sem_t *, const struct timespec *)
{
	void *p = dlvsym(RTLD_NEXT, "sem_timedwait", "GLIBC_2.34");
	return (int (*)(sem_t *, const struct timespec *))(p ? p : next_symbol("sem_timedwait"));
}

/* --- threads ------------------------------------------------------------- */

/* Threads of this process still alive, 0 if unknown. Not num_threads of
 * /proc/self/stat: a thread group leader that has exited stays counted
 * there (as a zombie) until the whole process ends. */
static long kernel_threads(void)
{
	long n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone meanwhile */
		ssize_t len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		/* "tid (name) S ...": the state follows the last ')' */
		const char *p = strrchr(buf, ')');
		if (p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
			n++;
	}
	closedir(d);
	return n;
}

static void lttng_thread_remove(pthread_t t);

static void thread_gone(void *value)
{
	if (value == &mark_lttng) {
		atomic_fetch_sub(&g_lttng, 1);
		lttng_thread_remove(pthread_self()); /* its pthread_t may be reused */
		return;
	}
	/* Run after the thread's other keys' destructors, as glibc's own
	 * exit(0) would: ask for another round until the last one. */
	if (++t_dtor_round < PTHREAD_DESTRUCTOR_ITERATIONS) {
		if (pthread_setspecific(g_key, value) == 0)
			return;
	}
	t_dtor_round = 0;
	if (atomic_fetch_sub(&g_app, 1) != 1)
		return;
	/* Only when the kernel agrees that LTTng's threads are all that is
	 * left (a thread made without pthread_create keeps us out). A thread
	 * that was uncounted just before this one may still be on its way out
	 * of the kernel: give it up to 200 ms. */
	for (int i = 0; i < 200; i++) {
		int lttng = atomic_load(&g_lttng);
		long n = kernel_threads();
		if (lttng <= 0 || n <= 0 || atomic_load(&g_app) > 0)
			return;
		if (n <= 1 + lttng)
			exit(0);
		usleep(1000);
	}
}

/* LTTng's threads (pthread_self() of each), for pthread_cancel at exit:
 * 0 for a free slot. A fork child has none of its parent's. */
#define LTTNG_THREADS_MAX 16
static _Atomic pthread_t g_lttng_threads[LTTNG_THREADS_MAX];

static void lttng_thread_add(pthread_t t)
{
	for (int i = 0; i < LTTNG_THREADS_MAX; i++) {
		pthread_t free_slot = 0;
		if (atomic_compare_exchange_strong(&g_lttng_threads[i], &free_slot, t))
			return;
	}
}

static void lttng_thread_remove(pthread_t t)
{
	for (int i = 0; i < LTTNG_THREADS_MAX; i++) {
		pthread_t mine = t;
		if (atomic_compare_exchange_strong(&g_lttng_threads[i], &mine, 0))
			return;
	}
}

static int lttng_thread_is(pthread_t t)
{
	for (int i = 0; i < LTTNG_THREADS_MAX; i++)
		if (atomic_load(&g_lttng_threads[i]) == t)
			return 1;
	return 0;
}

struct start {
	void *(*fn)(void *);
	void *arg;
	void *mark;
};

/* A new thread's first malloc gives it a malloc arena of its own: a heap
 * glibc maps at a 64 MiB boundary (HEAP_MAX_SIZE) with its first 132 KiB
 * writable. liblttng-ust's listener zeroes three 32 KiB hash tables
 * there (calloc of each session's tables) while it registers with the
 * session daemon, one page fault at a time (about 30, 13 us each in a
 * VM), all on the path the traced program's first event waits for. The
 * heap's first 128 KiB are populated in one call instead. Only when the
 * block is at the start of such a heap (an allocator that is not glibc's,
 * or the main arena, is left alone); pages past the writable part stop
 * the call, harmlessly. */
#define ARENA_ALIGN (64ul << 20)
#define ARENA_FIRST (128ul << 10)

void process_pages_populate(const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095;
	uintptr_t b = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
	madvise((void *)a, b - a, MADV_POPULATE_WRITE); /* EINVAL before 5.14 */
}

static void lttng_arena_prefault(void)
{
	void *b = malloc(200); /* not the size class of struct start, just freed */
	uintptr_t at = (uintptr_t)b;
	free(b);
	if (!b || (at & (ARENA_ALIGN - 1)) >= (16ul << 10))
		return;
	process_pages_populate(b, ARENA_FIRST - (at & (ARENA_ALIGN - 1)));
}

static void *thread_start(void *p)
{
	struct start s = *(struct start *)p;
	free(p);
	/* Without the key value the thread is never uncounted: the process
	 * then lingers as without this code, it never ends early. */
	pthread_setspecific(g_key, s.mark);
	t_lttng_thread = s.mark == &mark_lttng;
	if (t_lttng_thread) {
		lttng_thread_add(pthread_self());
		lttng_arena_prefault();
	}
	return s.fn(s.arg);
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	if (!real.thread_create)
		real.thread_create = next_symbol("pthread_create");
	if (!atomic_load_explicit(&g_on, memory_order_relaxed))
		return real.thread_create(thread, attr, fn, arg);
	atomic_int *count = t_lttng_init ? &g_lttng : &g_app;
	/* Counted before it runs, so the count never drops to 0 while a
	 * thread is being started. */
	atomic_fetch_add(count, 1);
	struct start *s = malloc(sizeof(*s));
	if (!s)
		return real.thread_create(thread, attr, fn, arg); /* counted for good */
	s->fn = fn;
	s->arg = arg;
	s->mark = t_lttng_init ? &mark_lttng : &mark_app;
	int rc = real.thread_create(thread, attr, thread_start, s);
	if (rc) {
		atomic_fetch_sub(count, 1);
		free(s);
	}
	return rc;
}

/* --- copy-on-write before LTTng's threads ---------------------------------- */

/* Is this loaded object the interpreter's own code: the program itself
 * (the loader's first object) or a libpython? */
static int is_python_image(const char *name, int first)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	return first || strncmp(base, "libpython", 9) == 0;
}

/* An embedding program's own data may be anything: not past 8 MiB. */
#define PYTHON_DATA_MAX (8ul << 20)

/* One loaded object of dl_iterate_phdr: its writable segment (data, then
 * .bss), less the part the loader made read-only after relocation
 * (PT_GNU_RELRO, which MADV_POPULATE_WRITE would refuse) when it is in
 * that segment. */
static int python_image_prefault(struct dl_phdr_info *info, size_t size, void *first)
{
	(void)size;
	int is_first = *(int *)first;
	*(int *)first = 0;
	if (!is_python_image(info->dlpi_name ? info->dlpi_name : "", is_first))
		return 0;
	uintptr_t relro = 0, relro_end = 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
			relro = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
			relro_end = relro + info->dlpi_phdr[i].p_memsz;
		}
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W) || ph->p_memsz > PYTHON_DATA_MAX)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr, b = a + ph->p_memsz;
		if (relro >= a && relro < b && relro_end > a)
			a = relro_end;
		a = (a + 4095) & ~(uintptr_t)4095; /* not a page it shares with RELRO */
		if (a < b)
			process_pages_populate((const void *)a, b - a);
	}
	return 0;
}

/* CPython's start-up writes to most of its static data (type objects,
 * interned strings, refcounts of static objects: 1.1 of 1.3 MB for Debian's
 * 3.11), pages the loader mapped from the file and a first read left
 * read-only. Each first write is a copy-on-write fault that must flush the
 * old page from the TLB of every CPU this process has run on: once LTTng's
 * listener threads have run, that is an inter-processor interrupt per page
 * (about 3 ms per traced start-up on a 2-CPU VM). Done here, while the main
 * thread is the only one, the copies are made with local flushes only.
 * Only the interpreter's own data and the .bss after it: pages it would
 * write anyway, not the heap (a fork child's heap is not touched). The
 * loader's own list of objects says where they are: reading
 * /proc/self/maps instead cost 0.1 to 0.25 ms of every traced start-up,
 * on the path the first event waits for. */
static void python_data_prefault(void)
{
	int first = 1;
	dl_iterate_phdr(python_image_prefault, &first);
}

void process_watch_start(void)
{
	if (!real.thread_create)
		real.thread_create = next_symbol("pthread_create");
	real.fopen = next_symbol("fopen");
	real.fopen64 = next_symbol("fopen64");
	/* Now: dlsym in LTTng's thread could wait for the loader lock that
	 * the dlopen loading liblttng-ust holds while it waits for them. */
	real.mmap = next_symbol("mmap");
	real.sem_timedwait = next_sem_timedwait();
	python_data_prefault();
	if (pthread_key_create(&g_key, thread_gone))
		return; /* no key left: the process behaves as before */
	atomic_store(&g_app, 1);
	atomic_store(&g_lttng, 0);
	pthread_setspecific(g_key, &mark_app);
	atomic_store(&g_on, 1);
}

/* liblttng-ust's base-address statedump opens and parses every loaded ELF
 * file (build id, debug link) while it loads and again when a session
 * starts, with the traced program's constructor waiting for it:
 * milliseconds per process, for lttng_ust_statedump events no gilscope
 * session enables. liblttng-ust reads the variable once, while it loads
 * (it keeps the value's address, which glibc never frees): it is set only
 * for that, and never when the user has set it. */
#define NO_STATEDUMP "LTTNG_UST_WITHOUT_BADDR_STATEDUMP"
static int g_lttng_loaded;
static int g_env_set;
static void exit_begins(void);

/* liblttng-ust starts a listener thread per session daemon it may talk
 * to: root's (/run/lttng) and the user's ($LTTNG_HOME or $HOME/.lttng).
 * For root they are the same daemon: a root lttng-sessiond serves
 * /run/lttng, not a home directory (unless started with --apps-sock
 * pointing there, which gilscope never does), so the second thread only
 * fails to connect and then waits for nothing, at the cost of a thread, its
 * mappings and system calls in every traced process, and its
 * cancellation at exit. liblttng-ust reads HOME and LTTNG_HOME once, while
 * it loads (its environment cache, used again in fork children), and
 * starts no such thread without them: for root they are hidden from it
 * then, entries renamed in place so that the environment's order and
 * strings are the program's again right after. */
extern char **environ;
#define HIDDEN_MAX 4
static char **g_hidden_at[HIDDEN_MAX];
static char *g_hidden[HIDDEN_MAX];

static void home_hide(void)
{
	if (getuid() != 0 || geteuid() != 0)
		return;
	int n = 0;
	for (char **e = environ; e && *e && n < HIDDEN_MAX; e++)
		if (strncmp(*e, "HOME=", 5) == 0 || strncmp(*e, "LTTNG_HOME=", 11) == 0) {
			g_hidden_at[n] = e;
			g_hidden[n++] = *e;
			*e = (char *)"GILSCOPE_HIDDEN_FROM_LTTNG=1";
		}
}

static void home_restore(void)
{
	for (int i = 0; i < HIDDEN_MAX && g_hidden_at[i]; i++) {
		*g_hidden_at[i] = g_hidden[i];
		g_hidden_at[i] = NULL;
	}
}

void process_lttng_begin(void)
{
	t_lttng_init = 1;
	if (g_lttng_loaded)
		return;
	if (!getenv(NO_STATEDUMP))
		g_env_set = setenv(NO_STATEDUMP, "1", 0) == 0;
	home_hide(); /* after setenv, which may move the array */
}

void process_lttng_end(void)
{
	t_lttng_init = 0;
	home_restore(); /* before unsetenv, which moves entries */
	if (g_env_set)
		unsetenv(NO_STATEDUMP);
	g_env_set = 0;
	if (!g_lttng_loaded)
		atexit(exit_begins);
	g_lttng_loaded = 1;
}

/* liblttng-ust's constructor waits (sem_timedwait, up to
 * LTTNG_UST_REGISTER_TIMEOUT, 3 s by default) until its listener thread
 * has registered with the session daemon and been given the sessions'
 * channels and event rules: some 17 round trips with the daemon, each a
 * wake-up of the daemon and of the listener, 10 to 25 ms on a busy 2-CPU
 * machine, while the program stands still. Nothing of gilscope's is
 * written before a GIL is found, so the wait is moved there: the
 * constructor's wait returns at once and the semaphore, which the listener
 * posts when registration is done (or has failed), is waited for with
 * the constructor's own deadline by process_lttng_ready(), before the
 * first event. Meanwhile the registration overlaps the program's own
 * start-up (CPython configures itself before it takes the GIL). Only the
 * first load's wait is moved; a fork child's re-registration still waits
 * in fork(). */
static sem_t *g_reg_sem;
static struct timespec g_reg_deadline;
static atomic_int g_reg_pending;
static atomic_int g_reg_gave_up; /* process_lttng_gave_up() */

EXPORT int sem_timedwait(sem_t *restrict sem, const struct timespec *restrict abstime)
{
	if (t_lttng_init && !g_lttng_loaded && !g_reg_sem) {
		g_reg_sem = sem;
		g_reg_deadline = *abstime;
		atomic_store(&g_reg_pending, 1);
		return 0;
	}
	if (!real.sem_timedwait)
		real.sem_timedwait = next_sem_timedwait();
	return real.sem_timedwait(sem, abstime);
}

int process_lttng_ready(void)
{
	if (!atomic_load(&g_reg_pending))
		return 0;
	int e = errno, rc;
	/* The process is about to wait for the daemon: fault in now what its
	 * first events will touch. */
	attrib_warm();
	do
		rc = real.sem_timedwait(g_reg_sem, &g_reg_deadline);
	while (rc < 0 && errno == EINTR);
	int gave_up = rc < 0 && errno == ETIMEDOUT;
	if (gave_up)
		atomic_store(&g_reg_gave_up, 1);
	if (rc == 0)
		sem_post(g_reg_sem); /* for another thread waiting meanwhile */
	atomic_store(&g_reg_pending, 0);
	errno = e;
	return gave_up;
}

int process_lttng_gave_up(void)
{
	return atomic_load(&g_reg_gave_up);
}

void process_lttng_gave_up_set(void)
{
	atomic_store(&g_reg_gave_up, 1);
}

void process_after_fork_child(void)
{
	for (int i = 0; i < LTTNG_THREADS_MAX; i++)
		atomic_store(&g_lttng_threads[i], 0);
	/* The forking thread is the only one left, whatever its kind. */
	atomic_store(&g_app, 1);
	atomic_store(&g_lttng, 0);
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	g_rlimit_lock = fresh;
	/* The parent's registration is not the child's (it waits in fork). */
	atomic_store(&g_reg_pending, 0);
	atomic_store(&g_reg_gave_up, 0);
}

/* --- LTTng's ring buffers ------------------------------------------------ */

/* liblttng-ust 2.13 maps every per-CPU ring buffer of the session with
 * MAP_POPULATE, in its listener thread, before the program may start: page
 * tables for the whole ring (2 x 32 MiB here) built and torn down in every
 * traced process, milliseconds of start-up growing with the CPUs and
 * --buffer-size. liblttng-ust 2.14 made not populating its default
 * (LTTNG_UST_MAP_POPULATE_POLICY=none: "take minor faults on first access
 * while tracing"); here its threads' mappings get that behaviour. */
/* In every process that inherits the preload, not only in CPython: the
 * first mmap() or close_range() may come from a signal handler or a fork
 * child, where dlsym is unsafe. */
__attribute__((constructor)) static void mmap_resolve(void)
{
	if (!real.mmap)
		real.mmap = next_symbol("mmap");
	if (!real.close)
		real.close = next_symbol("close");
	if (!real.munmap)
		real.munmap = next_symbol("munmap");
	if (!real.cancel)
		real.cancel = next_symbol("pthread_cancel");
	/* glibc 2.34+ only: absent, close_range() says ENOSYS. */
	real.close_range = (int (*)(unsigned int, unsigned int, int))dlsym(RTLD_NEXT, "close_range");
	real.closefrom = (void (*)(int))dlsym(RTLD_NEXT, "closefrom");
	real_pthread_sigmask = (sigmask_fn)next_symbol("pthread_sigmask");
	real_sigprocmask = (sigmask_fn)next_symbol("sigprocmask");
}

/* At exit, liblttng-ust's destructor unmaps every ring buffer it mapped
 * (tens of MiB a CPU) one by one while its listener thread may still run:
 * page tables torn down and TLB flushes on every CPU the process ran on
 * (1.6 ms measured for one CPU's buffer, most of the process's exit). The
 * kernel's exit_group unmaps them a moment later anyway, all at once. So
 * LTTng's shared mappings are remembered as its threads make them, and
 * once exit() has begun, an munmap of exactly one of them is left to the
 * kernel. Anything else (and every unmap before exit: a session that ends,
 * a fork child dropping its parent's buffers) goes to libc. Nothing reads
 * those buffers after LTTng's destructor, and the consumer daemon keeps
 * its own mapping: every event stays where it was written. */
#define LTTNG_MAPS_MAX 256
static struct {
	_Atomic uintptr_t addr;          /* 0: a free slot */
	_Atomic size_t len;
} g_lttng_maps[LTTNG_MAPS_MAX];
static atomic_int g_lttng_maps_used;     /* slots ever used: the scans' end */
static atomic_int g_exiting;             /* exit() has begun */

static void lttng_map_add(void *addr, size_t len)
{
	for (int i = 0; i < LTTNG_MAPS_MAX; i++) {
		uintptr_t free_slot = 0;
		if (atomic_compare_exchange_strong(&g_lttng_maps[i].addr, &free_slot, (uintptr_t)addr)) {
			atomic_store(&g_lttng_maps[i].len, len);
			int used = atomic_load(&g_lttng_maps_used);
			while (used < i + 1 && !atomic_compare_exchange_weak(&g_lttng_maps_used, &used, i + 1))
				;
			return;
		}
	}
	/* Full: this one is unmapped by libc at exit, as before. */
}

/* Forgets [addr, addr + len) if it is exactly one of LTTng's mappings:
 * 1 if it was. */
static int lttng_map_remove(void *addr, size_t len)
{
	int used = atomic_load_explicit(&g_lttng_maps_used, memory_order_acquire);
	for (int i = 0; i < used; i++) {
		uintptr_t a = (uintptr_t)addr;
		if (atomic_load_explicit(&g_lttng_maps[i].len, memory_order_relaxed) == len &&
		    atomic_compare_exchange_strong(&g_lttng_maps[i].addr, &a, 0))
			return 1;
	}
	return 0;
}

/* Registered while liblttng-ust loads: exit handlers run last registered
 * first, so this runs before the ELF destructors, LTTng's among them. */
static void exit_begins(void)
{
	atomic_store(&g_exiting, 1);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (!real.mmap)
		real.mmap = next_symbol("mmap");
	if (!t_lttng_thread)
		return real.mmap(addr, len, prot, flags, fd, off);
	void *p = real.mmap(addr, len, prot, flags & ~MAP_POPULATE, fd, off);
	if (p != MAP_FAILED && (flags & MAP_SHARED) && fd >= 0)
		lttng_map_add(p, len);
	return p;
}

/* At exit liblttng-ust's destructor cancels its listener threads (it
 * does not join them). The first pthread_cancel of a process loads
 * libgcc_s for the unwinding (a dlopen at exit), and the thread then
 * unwinds: about 0.6 ms of every traced exit. exit_group ends the
 * threads a moment later anyway, and the destructor has already told
 * them to quit (under its lock, which they check before any command): at
 * exit, a cancel of one of LTTng's threads is skipped. */
EXPORT int pthread_cancel(pthread_t t)
{
	if (!real.cancel)
		real.cancel = next_symbol("pthread_cancel");
	if (atomic_load(&g_exiting) && lttng_thread_is(t))
		return 0;
	return real.cancel(t);
}

EXPORT int munmap(void *addr, size_t len)
{
	if (!real.munmap)
		real.munmap = next_symbol("munmap");
	if (__builtin_expect(atomic_load_explicit(&g_lttng_maps_used, memory_order_relaxed), 0) &&
	    lttng_map_remove(addr, len) && atomic_load(&g_exiting))
		return 0;
	return real.munmap(addr, len);
}

/* --- LTTng's threads' signal mask ----------------------------------------- */

/* liblttng-ust blocks every signal around each of its locks and restores
 * the mask after (pthread_sigmask twice per lock): some 220 system calls in
 * a listener thread's registration with the session daemon, which the
 * traced program's first event waits for, and a system call costs
 * microseconds in a virtual machine. Its listener threads run with every
 * signal blocked from their start, so each of those calls leaves the mask
 * as it was. In those threads only, the mask is kept here (the 64 signals
 * the kernel has, as it reports them) and a call that would not change it
 * makes no system call; any other goes to glibc. Nothing else changes an
 * LTTng thread's mask: it runs no signal handler (all blocked) and makes
 * no thread or process of its own. */
TLS uint64_t t_mask;             /* an LTTng thread's mask, once known */
TLS int t_mask_known;

/* The mask a request leaves: the kernel keeps SIGKILL and SIGSTOP out,
 * glibc its own two (SIGCANCEL 32, SIGSETXID 33). */
static uint64_t mask_after(int how, uint64_t now, uint64_t set)
{
	uint64_t m = how == SIG_BLOCK ? now | set : how == SIG_UNBLOCK ? now & ~set : set;
	return m & ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)) | (1ull << 31) | (1ull << 32));
}

static int sigmask_call(sigmask_fn fn, int how, const sigset_t *set, sigset_t *old)
{
	if (!t_lttng_thread || (set && how != SIG_BLOCK && how != SIG_UNBLOCK && how != SIG_SETMASK))
		return fn(how, set, old);
	uint64_t want = 0;
	if (set)
		memcpy(&want, set, sizeof(want));
	if (t_mask_known && (!set || mask_after(how, t_mask, want) == t_mask)) {
		if (old) {
			sigemptyset(old);
			memcpy(old, &t_mask, sizeof(t_mask));
		}
		return 0;
	}
	sigset_t was;
	int rc = fn(how, set, &was);
	if (rc == 0) {
		uint64_t w;
		memcpy(&w, &was, sizeof(w));
		t_mask = set ? mask_after(how, w, want) : w;
		t_mask_known = 1;
		if (old)
			*old = was;
	} else
		t_mask_known = 0;
	return rc;
}

EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	if (!real_pthread_sigmask)
		real_pthread_sigmask = (sigmask_fn)next_symbol("pthread_sigmask");
	return sigmask_call(real_pthread_sigmask, how, set, old);
}

EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	if (!real_sigprocmask)
		real_sigprocmask = (sigmask_fn)next_symbol("sigprocmask");
	return sigmask_call(real_sigprocmask, how, set, old);
}

/* --- /proc/self/stat ------------------------------------------------------ */

static int is_self_stat(const char *path, const char *mode)
{
	return path && mode && mode[0] == 'r' && !strchr(mode, '+') &&
	       strcmp(path, "/proc/self/stat") == 0;
}

/* The real /proc/self/stat with num_threads less LTTng's threads, as a
 * memory stream; the real file when anything does not parse. */
static FILE *self_stat_open(FILE *(*open_real)(const char *, const char *),
			    const char *path, const char *mode)
{
	char in[1024], out[1100];
	FILE *f = open_real(path, mode);
	int lttng = atomic_load(&g_lttng);
	if (!f || lttng <= 0)
		return f;
	size_t len = fread(in, 1, sizeof(in) - 1, f);
	if (ferror(f) || !feof(f)) {
		rewind(f);
		return f;
	}
	in[len] = '\0';
	char *p = strrchr(in, ')');
	for (int field = 2; p && field < 20; field++)
		p = strchr(p + 1, ' ');
	char *end;
	long n = p ? strtol(p + 1, &end, 10) : 0;
	if (!p || end == p + 1 || n <= lttng) {
		rewind(f);
		return f;
	}
	int w = snprintf(out, sizeof(out), "%.*s%ld%s", (int)(p + 1 - in), in, n - lttng, end);
	FILE *m = w > 0 && (size_t)w < sizeof(out) ? fmemopen(NULL, (size_t)w + 1, "w+") : NULL;
	if (!m || fwrite(out, 1, (size_t)w, m) != (size_t)w || fseek(m, 0, SEEK_SET)) {
		if (m)
			fclose(m);
		rewind(f);
		return f;
	}
	fclose(f);
	return m;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (!real.fopen)
		real.fopen = next_symbol("fopen");
	if (__builtin_expect(atomic_load_explicit(&g_on, memory_order_relaxed), 0) &&
	    is_self_stat(path, mode))
		return self_stat_open(real.fopen, path, mode);
	return real.fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	if (!real.fopen64)
		real.fopen64 = next_symbol("fopen64");
	if (__builtin_expect(atomic_load_explicit(&g_on, memory_order_relaxed), 0) &&
	    is_self_stat(path, mode))
		return self_stat_open(real.fopen64, path, mode);
	return real.fopen64(path, mode);
}

/* --- LTTng's file descriptors ------------------------------------------- */

/* Moves fd where the program does not allocate: above the soft limit
 * (briefly raised to make the copy; the program cannot allocate there), or
 * else to the top of its range. Returns the new fd, or fd unchanged. */
static int fd_move_out(int fd)
{
	struct rlimit rl;
	int flags = fcntl(fd, F_GETFD);
	if (flags < 0)
		return fd;
	int cmd = (flags & FD_CLOEXEC) ? F_DUPFD_CLOEXEC : F_DUPFD;
	int nfd = -1;
	/* Read once, under the lock (a system call per descriptor fewer:
	 * about 20 in a listener's registration). */
	pthread_mutex_lock(&g_rlimit_lock);
	int known = getrlimit(RLIMIT_NOFILE, &rl) == 0;
	if (known && rl.rlim_cur < rl.rlim_max && rl.rlim_cur < INT_MAX) {
		struct rlimit wide = { .rlim_cur = rl.rlim_max, .rlim_max = rl.rlim_max };
		/* Not just above a lowered soft limit either: test_subprocess
		 * lowers it to 29 and scans the numbers just above. */
		rlim_t base = rl.rlim_cur < 1024 && rl.rlim_max >= 2048 ? 1024 : rl.rlim_cur;
		if (setrlimit(RLIMIT_NOFILE, &wide) == 0) {
			nfd = fcntl(fd, cmd, (int)base);
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	pthread_mutex_unlock(&g_rlimit_lock);
	/* The top of a range below 64 is the program's. */
	if (nfd < 0 && known && rl.rlim_cur >= 64) {
		rlim_t top = rl.rlim_cur > 1024 ? rl.rlim_cur - 256 : rl.rlim_cur / 2;
		if (top > (rlim_t)fd && top < INT_MAX)
			nfd = fcntl(fd, cmd, (int)top);
	}
	if (nfd < 0)
		return fd;
	close(fd);
	return nfd;
}

EXPORT int lttng_ust_add_fd_to_tracker(int fd)
{
	if (!real.add_fd)
		real.add_fd = next_symbol("lttng_ust_add_fd_to_tracker");
	if (fd >= 0 && atomic_load_explicit(&g_on, memory_order_relaxed)) {
		fd = fd_move_out(fd);
		int min = atomic_load(&g_lttng_fd_min);
		while (fd < min && !atomic_compare_exchange_weak(&g_lttng_fd_min, &min, fd))
			;
		for (int i = 0; i < LTTNG_FDS_MAX; i++) {
			int free_slot = 0;
			if (atomic_compare_exchange_strong(&g_lttng_fds[i], &free_slot, fd + 1)) {
				int used = atomic_load(&g_lttng_fds_used);
				while (used < i + 1 &&
				       !atomic_compare_exchange_weak(&g_lttng_fds_used, &used, i + 1))
					;
				break;
			}
		}
	}
	return real.add_fd(fd);
}

EXPORT void lttng_ust_delete_fd_from_tracker(int fd)
{
	if (!real.delete_fd)
		real.delete_fd = next_symbol("lttng_ust_delete_fd_from_tracker");
	int used = atomic_load(&g_lttng_fds_used);
	for (int i = 0; fd >= 0 && i < used; i++) {
		int mine = fd + 1;
		if (atomic_compare_exchange_strong(&g_lttng_fds[i], &mine, 0))
			break;
	}
	real.delete_fd(fd);
}

static int lttng_fd(int fd)
{
	if (fd < atomic_load_explicit(&g_lttng_fd_min, memory_order_relaxed))
		return 0; /* the program's own range: the common case */
	int used = atomic_load_explicit(&g_lttng_fds_used, memory_order_acquire);
	for (int i = 0; i < used; i++)
		if (atomic_load_explicit(&g_lttng_fds[i], memory_order_relaxed) == fd + 1)
			return 1;
	return 0;
}

/* liblttng-ust closes its own descriptors holding its fd-tracker lock
 * (liblttng-ust-fd.so relies on it too): those closes pass. */
EXPORT void lttng_ust_lock_fd_tracker(void)
{
	if (!real.lock_fd)
		real.lock_fd = next_symbol("lttng_ust_lock_fd_tracker");
	t_fd_nest++;
	real.lock_fd();
}

EXPORT void lttng_ust_unlock_fd_tracker(void)
{
	if (!real.unlock_fd)
		real.unlock_fd = next_symbol("lttng_ust_unlock_fd_tracker");
	real.unlock_fd();
	t_fd_nest--;
}

/* The program's close() of one of LTTng's descriptors answers as for a
 * descriptor that is not open, as liblttng-ust-fd.so does. */
EXPORT int close(int fd)
{
	if (__builtin_expect(atomic_load_explicit(&g_on, memory_order_relaxed), 0) &&
	    !t_fd_nest && lttng_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	if (!real.close) /* before this library's constructor */
		real.close = next_symbol("close");
	return real.close(fd);
}

/* Bulk closes (CPython's close_fds in a fork child, os.closerange,
 * daemonization) leave LTTng's descriptors open, as liblttng-ust-fd.so
 * does for close(): liblttng-ust 2.13 asserts, aborting the program, when
 * it finds one of its descriptors closed (e.g. a fork child's listener
 * woken by setuid's signal to every thread before exec). They are
 * close-on-exec and above the program's range. Async-signal-safe: a fork
 * child runs this before exec. */
EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int keep[LTTNG_FDS_MAX];
	size_t n = 0;

	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	if (atomic_load_explicit(&g_on, memory_order_relaxed) && !t_fd_nest) {
		int used = atomic_load_explicit(&g_lttng_fds_used, memory_order_acquire);
		for (int i = 0; i < used; i++) {
			int v = atomic_load_explicit(&g_lttng_fds[i], memory_order_relaxed);
			if (v > 0 && (unsigned int)(v - 1) >= first && (unsigned int)(v - 1) <= last)
				keep[n++] = (unsigned int)(v - 1);
		}
	}
	for (size_t i = 1; i < n; i++) /* insertion sort: a few dozen */
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			unsigned int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned int from = first;
	for (size_t i = 0; i < n; i++) {
		if (keep[i] > from && real.close_range(from, keep[i] - 1, flags) < 0)
			return -1;
		from = keep[i] + 1;
	}
	if (n && keep[n - 1] == UINT_MAX)
		return 0;
	return from <= last ? real.close_range(from, last, flags) : 0;
}

EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0 && close_range((unsigned int)lowfd, UINT_MAX, 0) == 0)
		return;
	if (real.closefrom) /* no close_range in this kernel: unprotected */
		real.closefrom(lowfd);
}

/* --- thread names from Python --------------------------------------------- */

#define THREAD_NAME_VAR "__gilscope_thread_name_"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

EXPORT int unsetenv(const char *name)
{
	if (!real.unsetenv)
		real.unsetenv = next_symbol("unsetenv");
	/* glibc declares name nonnull, yet answers NULL with EINVAL. */
	const char *volatile vname = name;
	const char *var = vname;
	if (!var || var[0] != '_' || strncmp(var, THREAD_NAME_VAR, sizeof(THREAD_NAME_VAR) - 1))
		return real.unsetenv(name);
	/* Such a variable never exists: answer as unsetenv would. */
	char buf[256];
	size_t n = 0;
	for (const char *h = var + sizeof(THREAD_NAME_VAR) - 1; h[0] && h[1] && n < sizeof(buf) - 1; h += 2) {
		int hi = hex_digit(h[0]), lo = hex_digit(h[1]);
		if (hi < 0 || lo < 0)
			return 0;
		buf[n++] = (char)(hi << 4 | lo);
	}
	buf[n] = '\0';
	if (atomic_load_explicit(&g_on, memory_order_relaxed))
		gilscope_thread_name(buf);
	return 0;
}
