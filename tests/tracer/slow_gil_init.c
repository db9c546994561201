/* Preloaded after gilscope's library by tracer.subinterp_race: the first
 * thread other than the main one to initialise a mutex 88 bytes after the
 * one it initialised just before (a GIL's switch mutex after its mutex:
 * CPython 3.12+'s create_gil for a subinterpreter with its own GIL) sleeps
 * 100 ms there, before it takes that GIL. Another thread then makes and
 * takes its own GIL meanwhile, every time: the race that two threads
 * creating subinterpreters at once make only now and then. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#define GIL_S_MINUS_M 88

static __thread pthread_mutex_t *last_init;
static atomic_int slept;

int pthread_mutex_init(pthread_mutex_t *mutex, const pthread_mutexattr_t *attr)
{
	static int (*next_init)(pthread_mutex_t *, const pthread_mutexattr_t *);

	if (!next_init)
		next_init = (int (*)(pthread_mutex_t *, const pthread_mutexattr_t *))dlsym(
			RTLD_NEXT, "pthread_mutex_init");
	int rc = next_init(mutex, attr);
	if (last_init && (char *)mutex - (char *)last_init == GIL_S_MINUS_M &&
	    syscall(SYS_gettid) != getpid() && !atomic_exchange(&slept, 1))
		usleep(100 * 1000);
	last_init = mutex;
	return rc;
}
