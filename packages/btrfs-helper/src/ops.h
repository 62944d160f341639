/* What main.c and ops.c share: a parsed request, and the op that runs it. */
#ifndef STRATA_BTRFS_OPS_H
#define STRATA_BTRFS_OPS_H

/* `usage` takes one path per layer; the daemon sends at most this many per request. */
#define MAX_ARGS 256
/* Room for the longest value: a `usage` answer of two 20-digit numbers per path. */
#define MAX_VALUE (MAX_ARGS * 44)

struct request {
  char *line; /* owns the argument strings */
  char *id;
  char *op;
  char *args[MAX_ARGS];
  int nargs;
  char value[MAX_VALUE]; /* what an op answers besides ok; empty for most */
};

/* Runs the op a request names: 0, or the errno of the step named in `*what` (ENOSYS for
 * an unknown op). What it answers besides ok goes to `r->value`. */
int run_op(struct request *r, const char **what);

#endif
