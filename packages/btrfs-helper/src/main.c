/*
 * strata-btrfs: the daemon's btrfs hands. One long-lived co-process of stratad that turns
 * requests on stdin into btrfs ioctls and answers on stdout, so that creating, snapshotting
 * and deleting a subvolume costs an ioctl instead of an exec of btrfs-progs.
 *
 * The protocol (docs/btrfs-helper.md) is one line per message, fields separated by TAB:
 *
 *   request:  <id> TAB <op> [TAB <arg>]...  LF
 *   answer:   <id> TAB ok [TAB <value>] LF  |  <id> TAB err TAB <errno> TAB <message> LF
 *
 * Every request runs on a thread of its own, so a snapshot waiting for its transaction
 * commit does not hold back a delete; answers come in completion order, matched by id.
 * At EOF on stdin (the daemon is gone) the helper waits for running requests and exits.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ops.h"

#define MAX_LINE 16384

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t run_done = PTHREAD_COND_INITIALIZER;
static int running;

static void answer(const char *id, int err, const char *what, const char *value) {
  size_t size = strlen(id) + strlen(value) + 1024;
  char *buf = malloc(size);
  if (buf == NULL) _exit(1);
  int n = err == 0 && value[0] ? snprintf(buf, size, "%s\tok\t%s\n", id, value)
          : err == 0           ? snprintf(buf, size, "%s\tok\n", id)
                               : snprintf(buf, size, "%s\terr\t%d\t%s: %s\n", id, err, what,
                                          strerror(err));
  if (n < 0) {
    free(buf);
    return;
  }
  if ((size_t)n >= size) n = (int)size - 1, buf[n - 1] = '\n';
  char *start = buf;
  pthread_mutex_lock(&out_lock);
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) _exit(1); /* the daemon is gone */
    p += w;
    n -= (int)w;
  }
  pthread_mutex_unlock(&out_lock);
  free(start);
}

static void *serve(void *arg) {
  struct request *r = arg;
  const char *what;
  int e = run_op(r, &what);
  answer(r->id, e, what, r->value);
  free(r->line);
  free(r);
  pthread_mutex_lock(&run_lock);
  if (--running == 0) pthread_cond_signal(&run_done);
  pthread_mutex_unlock(&run_lock);
  return NULL;
}

/* Splits a line (without its LF) into id, op and args; false when it has no id and op. */
static bool parse(char *line, struct request *r) {
  r->line = line;
  r->nargs = 0;
  r->value[0] = '\0';
  char *fields[2 + MAX_ARGS + 1];
  int n = 0;
  for (char *p = line;;) {
    if (n == (int)(sizeof fields / sizeof fields[0])) return false;
    fields[n++] = p;
    char *tab = strchr(p, '\t');
    if (tab == NULL) break;
    *tab = '\0';
    p = tab + 1;
  }
  if (n < 2 || fields[0][0] == '\0') return false;
  r->id = fields[0];
  r->op = fields[1];
  for (int i = 2; i < n; i++) r->args[r->nargs++] = fields[i];
  return true;
}

int main(void) {
  /* Dies with the daemon even if stdin stays open in some other process. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGPIPE, SIG_IGN);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);

  static char buf[MAX_LINE];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    size_t start = 0;
    for (char *nl; (nl = memchr(buf + start, '\n', len - start)) != NULL;) {
      size_t linelen = (size_t)(nl - (buf + start));
      char *line = malloc(linelen + 1);
      struct request *r = malloc(sizeof *r);
      if (line == NULL || r == NULL) return 1;
      memcpy(line, buf + start, linelen);
      line[linelen] = '\0';
      start += linelen + 1;
      if (!parse(line, r)) {
        fprintf(stderr, "strata-btrfs: malformed request\n");
        return 2;
      }
      pthread_mutex_lock(&run_lock);
      running++;
      pthread_mutex_unlock(&run_lock);
      pthread_t t;
      if (pthread_create(&t, &attr, serve, r) != 0) serve(r);
    }
    memmove(buf, buf + start, len - start);
    len -= start;
    if (len == sizeof buf) {
      fprintf(stderr, "strata-btrfs: request longer than %d bytes\n", MAX_LINE);
      return 2;
    }
  }
  pthread_mutex_lock(&run_lock);
  while (running > 0) pthread_cond_wait(&run_done, &run_lock);
  pthread_mutex_unlock(&run_lock);
  return 0;
}
