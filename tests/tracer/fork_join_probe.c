/* Does this C library's pthread_join return for a thread that forked and
 * then exited in the child? The child's joiner thread joins the forking
 * thread (the child's thread group leader). glibc 2.36 returns; Debian
 * sid's 2.43 never does, so CPython 3.13+ (Thread.join is pthread_join)
 * hangs there without gilscope: test_fork_thread.py runs this under the
 * interpreter's own loader to tell that apart quickly.
 * Exit status 0: joined, and the child ended with status 0. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_t forker;

static void *joiner(void *arg)
{
	(void)arg;
	if (pthread_join(forker, NULL) == 0)
		printf("joined\n");
	return NULL;
}

static void *work(void *arg)
{
	int *status = arg;
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t j;
		forker = pthread_self();
		if (pthread_create(&j, NULL, joiner, NULL))
			_exit(2);
		pthread_exit(NULL);
	}
	if (pid < 0 || waitpid(pid, status, 0) < 0)
		*status = -1;
	return NULL;
}

int main(void)
{
	pthread_t t;
	int status = -1;
	if (pthread_create(&t, NULL, work, &status) || pthread_join(t, NULL))
		return 2;
	return status == 0 ? 0 : 1;
}
