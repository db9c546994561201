/* isolate_run(): fork, relay the child's stderr, collect its temp file
 * and how it ended. */
#include "isolate.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* The child's end of the announcement pipe (-1 in any other process). */
static int announce_fd = -1;

void isolate_announce_temp(const char *path)
{
	char line[PATH_MAX + 2];
	int n;

	if (announce_fd < 0 || !path)
		return;
	n = snprintf(line, sizeof(line), "%s\n", path);
	if (n > 0 && (size_t)n < sizeof(line) && write(announce_fd, line, (size_t)n) < 0)
		return; /* the parent is gone: nothing to tell */
}

/* What the child printed that was not ours, kept for the reason. */
struct held {
	char *buf;
	size_t len, cap;
};

static void held_add(struct held *h, const char *s, size_t n)
{
	if (h->len + n + 1 > h->cap) {
		size_t ncap = (h->len + n + 1) * 2;
		char *nb;

		if (ncap > 65536) /* a library's last words are enough */
			return;
		nb = realloc(h->buf, ncap);
		if (!nb)
			return;
		h->buf = nb;
		h->cap = ncap;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
	h->buf[h->len] = '\0';
}

static int ours(const char *s, size_t n)
{
	return (n && s[0] == '\r') || (n >= 8 && !memcmp(s, "gilscope", 8));
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Splits what came from the child into lines: ours go on to our stderr,
 * the others are held. A '\r' line (progress) goes on unfinished. */
static void relay(char *pend, size_t *plen, struct held *h, int pass_on)
{
	size_t start = 0;

	for (size_t i = 0; i < *plen; i++) {
		if (pend[i] != '\n')
			continue;
		if (ours(pend + start, i + 1 - start)) {
			if (pass_on)
				write_all(STDERR_FILENO, pend + start, i + 1 - start);
		} else {
			held_add(h, pend + start, i + 1 - start);
		}
		start = i + 1;
	}
	memmove(pend, pend + start, *plen - start);
	*plen -= start;
	if (*plen && pend[0] == '\r') {
		if (pass_on)
			write_all(STDERR_FILENO, pend, *plen);
		*plen = 0;
	}
}

/* The line of a library's last words that says most: an assertion, a
 * "failed", else the last one; without its decorations. */
static void reason_pick(const char *text, char *out, size_t outlen)
{
	const char *best = NULL, *last = NULL, *p = text;

	out[0] = '\0';
	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		if (strspn(line, " \t") < strlen(line)) {
			last = p;
			if (!best && (strstr(line, "Assertion") || strstr(line, "failed") ||
				      strstr(line, "error")))
				best = p;
		}
		p = nl ? nl + 1 : NULL;
	}
	if (!best)
		best = last;
	if (!best)
		return;
	/* babeltrace2 starts with a table-flipping face: skip to "file.c:". */
	while (*best && *best != '\n' && !(((unsigned char)*best >= 'a' && (unsigned char)*best <= 'z') ||
					    ((unsigned char)*best >= 'A' && (unsigned char)*best <= 'Z') ||
					    ((unsigned char)*best >= '0' && (unsigned char)*best <= '9')))
		best++;
	snprintf(out, outlen, "%.*s", (int)strcspn(best, "\n"), best);
}

/* Reads what a pipe holds; at its end (or on an error) closes it, sets
 * *fd to -1 and counts it off *open_fds. Returns the bytes read, 0 if none. */
static ssize_t pipe_read(int *fd, char *buf, size_t len, int *open_fds)
{
	ssize_t n = read(*fd, buf, len);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		(*open_fds)--;
		return 0;
	}
	return n;
}

enum gs_status isolate_run(int (*fn)(void *arg), void *arg, int pass_on,
			   struct isolate_result *res)
{
	int errp[2] = { -1, -1 }, annp[2] = { -1, -1 };
	char pend[4096], ann[PATH_MAX + 64];
	size_t plen = 0, alen = 0;
	struct held h = { 0 };
	pid_t parent = getpid(), pid;
	int status, open_fds = 2;
	enum gs_status ret = GS_ERR_SYSTEM;

	memset(res, 0, sizeof(*res));
	if (pipe(errp) < 0 || pipe(annp) < 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot make a pipe: %s", strerror(errno));
		goto end;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(res->reason, sizeof(res->reason), "cannot fork: %s", strerror(errno));
		goto end;
	}
	if (pid == 0) {
		/* Killed with its parent: its own handlers remove the temp file. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		close(errp[0]);
		close(annp[0]);
		dup2(errp[1], STDERR_FILENO);
		close(errp[1]);
		setvbuf(stderr, NULL, _IONBF, 0);
		announce_fd = annp[1];
		/* exit, not _exit: the sanitizers' leak check runs at exit. */
		exit(fn(arg) & 0xff);
	}
	close(errp[1]);
	close(annp[1]);
	errp[1] = annp[1] = -1;
	while (open_fds) {
		struct pollfd pf[2] = { { errp[0], POLLIN, 0 }, { annp[0], POLLIN, 0 } };

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[0].revents && errp[0] >= 0) {
			ssize_t n = pipe_read(&errp[0], pend + plen, sizeof(pend) - plen - 1, &open_fds);

			if (n > 0) {
				plen += (size_t)n;
				relay(pend, &plen, &h, pass_on);
				if (plen >= sizeof(pend) - 1) { /* one long line: pass it on as is */
					held_add(&h, pend, plen);
					plen = 0;
				}
			}
		}
		if (pf[1].revents && annp[0] >= 0) {
			ssize_t n = pipe_read(&annp[0], ann + alen, sizeof(ann) - alen - 1, &open_fds);

			if (n > 0) {
				char *nl;

				alen += (size_t)n;
				ann[alen] = '\0';
				while ((nl = strchr(ann, '\n'))) {
					*nl = '\0';
					snprintf(res->temp, sizeof(res->temp), "%.*s",
						 (int)sizeof(res->temp) - 1, ann);
					alen -= (size_t)(nl + 1 - ann);
					memmove(ann, nl + 1, alen + 1);
				}
				if (alen >= sizeof(ann) - 1)
					alen = 0;
			}
		}
	}
	if (errp[0] >= 0)
		close(errp[0]);
	if (annp[0] >= 0)
		close(annp[0]);
	errp[0] = annp[0] = -1;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(res->reason, sizeof(res->reason), "cannot wait for the child: %s",
				 strerror(errno));
			goto end;
		}
	}
	if (plen)
		held_add(&h, pend, plen);
	if (WIFSIGNALED(status)) {
		res->signal = WTERMSIG(status);
		reason_pick(h.buf ? h.buf : "", res->reason, sizeof(res->reason));
	} else {
		res->status = WEXITSTATUS(status);
		if (h.len && pass_on) /* a library's words on a run that ended normally */
			write_all(STDERR_FILENO, h.buf, h.len);
	}
	ret = GS_OK;
end:
	for (int i = 0; i < 2; i++) {
		if (errp[i] >= 0)
			close(errp[i]);
		if (annp[i] >= 0)
			close(annp[i]);
	}
	free(h.buf);
	return ret;
}
