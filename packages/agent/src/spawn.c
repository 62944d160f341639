/*
 * Starting a command: pipes, fork, and the child's side up to execvp. A close-on-exec
 * error pipe tells the parent, without blocking it, whether exec happened: EOF means it
 * did; a {stage, errno} report means a step failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

extern char **environ;

enum stage { STAGE_SETSID, STAGE_STDIO, STAGE_SETGROUPS, STAGE_SETGID, STAGE_SETUID,
             STAGE_CHDIR, STAGE_EXEC };
static const char *const stage_names[] = {"setsid", "stdio", "setgroups", "setgid",
                                          "setuid", "chdir", "exec"};

/* Opened once: code in the sandbox may delete /dev/null, and later EXECs need it. */
static int devnull = -1;

static _Noreturn void exec_child(const struct spawn_req *req, const int fds[4]) {
  enum stage stage = STAGE_SETSID;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (setsid() < 0) goto fail;
  /* Commands get a high OOM score (raising it needs no privilege), so that a memory hog in
   * the sandbox is killed before the agent, the sandbox's init. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    if (write(oom, "500", 3) < 0) { /* best effort: /proc may be missing in tests */ }
    close(oom);
  }

  stage = STAGE_STDIO;
  int in = fds[0] >= 0 ? fds[0] : devnull;
  if (in < 0 || dup2(in, 0) < 0 || dup2(fds[1], 1) < 0 || dup2(fds[2], 2) < 0) goto fail;

  bool new_uid = req->uid != ID_KEEP && req->uid != geteuid();
  bool new_gid = req->gid != ID_KEEP && req->gid != getegid();
  if (new_uid || new_gid) {
    /* Without NSS there is no group database; the new identity starts with none. */
    stage = STAGE_SETGROUPS;
    if (setgroups(0, NULL) < 0) goto fail;
    stage = STAGE_SETGID;
    if (req->gid != ID_KEEP && setresgid(req->gid, req->gid, req->gid) < 0) goto fail;
    stage = STAGE_SETUID;
    if (req->uid != ID_KEEP && setresuid(req->uid, req->uid, req->uid) < 0) goto fail;
  }
  stage = STAGE_CHDIR;
  if (chdir(req->cwd[0] ? req->cwd : "/") < 0) goto fail;

  /* Anything the agent inherited without close-on-exec stays out of the sandbox. */
  close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
  /* execvpe searches the caller's PATH, not envp's: make envp the caller's. */
  environ = req->envp;
  stage = STAGE_EXEC;
  execvp(req->argv[0], req->argv);
fail:;
  int report[2] = {(int)stage, errno};
  if (write(fds[3], report, sizeof report) < 0) _exit(126);
  _exit(127);
}

static bool pipe_pair(int p[2], int nonblock_end) {
  if (pipe2(p, O_CLOEXEC) < 0) return false;
  int fl = fcntl(p[nonblock_end], F_GETFL);
  fcntl(p[nonblock_end], F_SETFL, fl | O_NONBLOCK);
  return true;
}

int spawn_process(const struct spawn_req *req, struct spawned *out) {
  int errp[2] = {-1, -1}, in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1};
  bool with_stdin = req->flags & 1;
  if (devnull < 0) devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (!pipe_pair(errp, 0) || !pipe_pair(o, 0) || !pipe_pair(e, 0)) goto fail;
  /* Without /dev/null at all, an empty pipe reads as EOF just the same. */
  if ((with_stdin || devnull < 0) && !pipe_pair(in, 1)) goto fail;

  pid_t pid = fork();
  if (pid < 0) goto fail;
  if (pid == 0) exec_child(req, (int[4]){in[0], o[1], e[1], errp[1]});

  close(errp[1]);
  close(o[1]);
  close(e[1]);
  if (in[0] >= 0) close(in[0]);
  if (!with_stdin && in[1] >= 0) {
    close(in[1]);
    in[1] = -1;
  }
  *out = (struct spawned){.pid = pid, .errp = errp[0], .in = in[1], .out = o[0], .err = e[0]};
  return 0;

fail:;
  int err = errno;
  int *all[] = {errp, in, o, e};
  for (size_t i = 0; i < 4; i++) {
    if (all[i][0] >= 0) close(all[i][0]);
    if (all[i][1] >= 0) close(all[i][1]);
  }
  return err;
}

int spawn_failure(const int report[2], ssize_t n, char *msg, size_t cap) {
  bool whole = n == (ssize_t)(2 * sizeof(int));
  int err = whole ? report[1] : EIO;
  int stage = whole ? report[0] : -1;
  snprintf(msg, cap, "%s: %s", stage >= 0 && stage <= STAGE_EXEC ? stage_names[stage] : "start",
           strerror(err));
  return err;
}
