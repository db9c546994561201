/* Preloaded after gilscope's library by tracer.kill_late_writer and
 * tracer.kill_gil_found: a thread of a process that kills itself is held
 * inside an LTTng event (at its first memcpy from liblttng-ust: after the
 * event's reservation in the ring buffer, before its commit) while the
 * process ends.
 *
 * GILSCOPE_TEST_LATE_WRITER_FD=N: kill(getpid(), sig), reached once
 * gilscope's own kill() has let the other threads write, wakes the
 * program's other thread (a byte to descriptor N: it then takes the GIL,
 * which the killing thread holds) and sends the signal only when a thread
 * is inside an event, or after 0.5 s. A thread that starts writing then is
 * not waited for: gilscope must keep it from starting.
 *
 * GILSCOPE_TEST_SLOW_FOUND=1: the first thread other than the main one
 * that initialises a mutex 88 bytes after the one it initialised just
 * before (CPython 3.12+'s create_gil for a subinterpreter with its own
 * GIL) is held 20 ms in its next event (the GIL's gil_found), and once it
 * is there a thread of this library's kills the process (SIGTERM, through
 * gilscope's kill()): gilscope must wait for that write.
 *
 * GILSCOPE_TEST_EXIT_WRITER=1: exit(), once per process, holds the first
 * thread other than the exiting one that is inside an LTTng event from
 * then on (0.5 s), waiting up to 0.5 s for one before it goes on: a thread
 * preempted inside its event (a loaded machine) while the process ends,
 * longer than gilscope's wait for writers. liblttng-ust's destructor must
 * not run under it (tracer.exit_writer).
 *
 * Each says on stderr when it held a thread inside an event. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define GIL_S_MINUS_M 88

/* glibc's memmove does the copies: the compiler may not turn a call of it
 * through this pointer into one of memcpy, which would be this one. */
static void *(*volatile copy)(void *, const void *, size_t) = memmove;

static atomic_int armed;                 /* a mode is on: look at callers */
static atomic_uintptr_t lttng_lo, lttng_hi; /* liblttng-ust's code */
static atomic_int killer;                /* LATE: the killing thread's tid */
static atomic_int inside;                /* LATE: a thread is held in an event */
static atomic_int held;                  /* once per process */
static atomic_int exiting;               /* EXIT: exit() has begun */
static __thread int t_found;             /* FOUND: hold this thread's next event */
static __thread pthread_mutex_t *t_last_init;
static sem_t found_sem;

static void say(const char *msg)
{
	if (write(2, msg, strlen(msg)) < 0)
		return;
}

static int lttng_code(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (!info->dlpi_name || !strstr(info->dlpi_name, "/liblttng-ust.so"))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			atomic_store(&lttng_lo, info->dlpi_addr + ph->p_vaddr);
			atomic_store(&lttng_hi, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
			return 1;
		}
	}
	return 0;
}

static void pause_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&t, &t) != 0)
		;
}

static __attribute__((noinline)) void from_lttng(uintptr_t caller)
{
	if (caller < atomic_load(&lttng_lo) || caller >= atomic_load(&lttng_hi))
		return;
	if (t_found) {
		t_found = 0;
		if (atomic_exchange(&held, 1))
			return;
		say("slow_event_write: a thread is held inside its gil_found\n");
		sem_post(&found_sem);
		pause_ms(20);
		return;
	}
	int k = atomic_load(&killer);
	if (k && k != (int)syscall(SYS_gettid) && !atomic_exchange(&held, 1)) {
		say(atomic_load(&exiting)
			    ? "slow_event_write: a thread is held inside an event while its process exits\n"
			    : "slow_event_write: a thread began an event after the process began to end\n");
		atomic_store(&inside, 1);
		/* The process ends meanwhile; an exit waits: 0.5 s, ten times
		 * gilscope's wait for writers, under the analyzer's 1 s. */
		pause_ms(atomic_load(&exiting) ? 500 : 2000);
	}
}

void *memcpy(void *dst, const void *src, size_t n)
{
	if (__builtin_expect(atomic_load_explicit(&armed, memory_order_relaxed), 0))
		from_lttng((uintptr_t)__builtin_return_address(0));
	return copy(dst, src, n);
}

int kill(pid_t pid, int sig)
{
	static int (*next_kill)(pid_t, int);
	const char *fd = getenv("GILSCOPE_TEST_LATE_WRITER_FD");

	if (!next_kill)
		next_kill = (int (*)(pid_t, int))dlsym(RTLD_NEXT, "kill");
	if (fd && pid == getpid() && !atomic_load(&killer)) {
		dl_iterate_phdr(lttng_code, NULL);
		atomic_store(&killer, (int)syscall(SYS_gettid));
		atomic_store(&armed, 1);
		if (write(atoi(fd), "x", 1) != 1)
			return -1;
		for (int i = 0; i < 500 && !atomic_load(&inside); i++)
			pause_ms(1);
	}
	return next_kill(pid, sig);
}

void exit(int status)
{
	static void (*next_exit)(int);

	if (!next_exit)
		next_exit = (void (*)(int))dlsym(RTLD_NEXT, "exit");
	if (getenv("GILSCOPE_TEST_EXIT_WRITER") && !atomic_load(&killer)) {
		dl_iterate_phdr(lttng_code, NULL);
		atomic_store(&exiting, 1);
		atomic_store(&killer, (int)syscall(SYS_gettid));
		atomic_store(&armed, 1);
		for (int i = 0; i < 500 && !atomic_load(&inside); i++)
			pause_ms(1);
	}
	next_exit(status);
	__builtin_unreachable();
}

/* Kills the process, through gilscope's kill(), once a thread is held in
 * its gil_found. */
static void *found_killer(void *arg)
{
	(void)arg;
	while (sem_wait(&found_sem) != 0)
		;
	kill(getpid(), SIGTERM);
	return NULL;
}

int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	static int (*next_init)(pthread_mutex_t *, const pthread_mutexattr_t *);
	static atomic_int once;

	if (!next_init)
		next_init = (int (*)(pthread_mutex_t *, const pthread_mutexattr_t *))dlsym(
			RTLD_NEXT, "pthread_mutex_init");
	int rc = next_init(mutex, attr);
	const char *on = getenv("GILSCOPE_TEST_SLOW_FOUND");
	if (on && t_last_init && (char *)mutex - (char *)t_last_init == GIL_S_MINUS_M &&
	    syscall(SYS_gettid) != getpid() && !atomic_exchange(&once, 1)) {
		pthread_t t;
		dl_iterate_phdr(lttng_code, NULL);
		sem_init(&found_sem, 0, 0);
		if (pthread_create(&t, NULL, found_killer, NULL) == 0) {
			t_found = 1;
			atomic_store(&armed, 1);
		}
	}
	t_last_init = mutex;
	return rc;
}
