/* Not Python, but shaped like its GIL: a struct with interval, last_holder,
 * locked, switch_number, cond, mutex, switch_cond, switch_mutex, used the
 * way take_gil/drop_gil use them (nested lock, timed waits, a signal while
 * holding both mutexes). The tracer must not mistake it for a GIL: its
 * output and exit status must come out unchanged. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct fake_gil {
	unsigned long interval;
	void *last_holder;
	int locked;
	unsigned long switch_number;
	pthread_cond_t cond;
	pthread_mutex_t mutex;
	pthread_cond_t switch_cond;
	pthread_mutex_t switch_mutex;
};

static struct fake_gil g = {
	.interval = 5000,
	.cond = PTHREAD_COND_INITIALIZER,
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.switch_cond = PTHREAD_COND_INITIALIZER,
	.switch_mutex = PTHREAD_MUTEX_INITIALIZER,
};

static long shared_counter;

static void take(void)
{
	pthread_mutex_lock(&g.mutex);
	while (g.locked) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		int rc = pthread_cond_timedwait(&g.cond, &g.mutex, &ts);
		if (rc && rc != ETIMEDOUT)
			abort();
	}
	pthread_mutex_lock(&g.switch_mutex);
	g.locked = 1;
	g.switch_number++;
	pthread_cond_signal(&g.switch_cond);
	pthread_mutex_unlock(&g.switch_mutex);
	pthread_mutex_unlock(&g.mutex);
}

static void drop(void)
{
	pthread_mutex_lock(&g.mutex);
	g.locked = 0;
	pthread_cond_signal(&g.cond);
	pthread_mutex_unlock(&g.mutex);
}

static void *worker(void *arg)
{
	long n = (long)arg;
	for (long i = 0; i < n; i++) {
		take();
		shared_counter++;
		drop();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)n))
			return 2;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("fake_gil: %ld handoffs, %lu switches\n", shared_counter, g.switch_number);
	return shared_counter == 2 * n ? 3 : 4; /* 3: a distinctive status to pass on */
}
