/*
 * strata-agent: PID 1 of a Strata sandbox. Speaks docs/agent-protocol.md over fd 3,
 * runs commands and file operations, and reaps every zombie in the sandbox.
 *
 * One thread, one poll() loop. Each turn reads what fd 3 has (so the daemon's requests
 * are never starved), moves at most one chunk per ready pipe or file, reaps, and sends
 * EXIT for finished processes. Writes to fd 3 block; every other descriptor is
 * non-blocking, and the protocol's windows bound what is buffered per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent.h"

void agent_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("strata-agent: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

bool id_in_use(uint32_t id) { return proc_owns(id) || fs_owns(id); }

bool dispatch_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
  switch (type) {
  case MSG_EXEC:
  case MSG_STDIN:
  case MSG_STDIN_CLOSE:
  case MSG_SIGNAL:
    return proc_handle_frame(type, id, payload, len);
  case MSG_WINDOW: {
    struct reader r = reader_of(payload, len);
    uint32_t out = rd_u32(&r);
    uint32_t err = rd_u32(&r);
    if (r.truncated) return false;
    if (!proc_window(id, out, err)) fs_window(id, out);
    return true;
  }
  case MSG_FS_READ:
  case MSG_FS_WRITE:
  case MSG_FS_DATA:
  case MSG_FS_END:
  case MSG_FS_STAT:
  case MSG_FS_READDIR:
  case MSG_FS_MKDIR:
  case MSG_FS_REMOVE:
  case MSG_FS_RENAME:
  case MSG_FS_CHMOD:
    return fs_handle_frame(type, id, payload, len);
  default:
    agent_log("unknown message type 0x%02x", type);
    return false;
  }
}

/* Children get fds 0-2 replaced by dup2; if one were closed here, a pipe could land on
 * it and be clobbered. */
static void ensure_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int n = open("/dev/null", O_RDWR);
    if (n >= 0 && n != fd) {
      dup2(n, fd);
      close(n);
    }
  }
}

static int setup_signals(void) {
  /* A child that closes its stdin must not kill the agent while it writes to it. */
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return -1;
  return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Returns true when the agent should shut down. As PID 1 only a signal from outside
 * the sandbox counts (sender pid 0: the kernel or an ancestor namespace, e.g. `crun
 * kill`): a process in the sandbox must not end the sandbox by signalling its init. */
static bool on_signals(int sigfd, bool is_init, bool *reap) {
  struct signalfd_siginfo si[8];
  bool stop = false;
  ssize_t n;
  while ((n = read(sigfd, si, sizeof si)) > 0) {
    for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++) {
      if (si[i].ssi_signo == SIGCHLD) *reap = true;
      else if (!is_init || si[i].ssi_pid == 0) stop = true;
      else agent_log("ignoring signal %u from pid %u", si[i].ssi_signo, si[i].ssi_pid);
    }
  }
  return stop;
}

static int serve(int sigfd, bool is_init) {
  struct pollfd *fds = NULL;
  size_t cap = 0;
  bool reap = true;
  for (;;) {
    if (g_peer_gone) return 0;
    size_t want = 2 + proc_poll_slots();
    if (want > cap) {
      struct pollfd *f = realloc(fds, want * sizeof *fds);
      if (f == NULL) {
        agent_log("out of memory");
        free(fds);
        return 1;
      }
      fds = f;
      cap = want;
    }
    fds[0] = (struct pollfd){.fd = AGENT_FD, .events = POLLIN, .revents = 0};
    fds[1] = (struct pollfd){.fd = sigfd, .events = POLLIN, .revents = 0};
    size_t n = proc_fill_poll(fds, 2);
    bool busy = fs_pump() || reap;
    if (poll(fds, n, busy ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      agent_log("poll: %s", strerror(errno));
      free(fds);
      return 1;
    }
    if (fds[0].revents) {
      int rc = wire_receive();
      if (rc <= 0) {
        free(fds);
        return rc < 0 ? 2 : 0;
      }
    }
    proc_on_poll(fds);
    if ((fds[1].revents & POLLIN) && on_signals(sigfd, is_init, &reap)) {
      free(fds);
      return 0;
    }
    if (reap) reap = proc_reap();
    proc_sweep();
  }
}

/* `--host-ca=FILE` (FILE may be empty) asks for trust_install at start; `--trust-root=DIR`
 * puts the trust store under DIR instead of / (tests). Without them the store is not
 * touched: run as a host process, the agent must leave the host's alone. */
static bool parse_args(int argc, char **argv, const char **host_ca, const char **root) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--host-ca=", 10) == 0) *host_ca = argv[i] + 10;
    else if (strncmp(argv[i], "--trust-root=", 13) == 0) *root = argv[i] + 13;
    else {
      agent_log("unknown argument %s", argv[i]);
      return false;
    }
  }
  return true;
}

int main(int argc, char **argv) {
  ensure_std_fds();
  const char *host_ca = NULL, *trust_root = "";
  if (!parse_args(argc, argv, &host_ca, &trust_root)) return 2;
  int fl = fcntl(AGENT_FD, F_GETFD);
  if (fl < 0) {
    agent_log("fd %d is not open: start me with the daemon's socket as fd 3", AGENT_FD);
    return 2;
  }
  /* The socket must never leak into the sandbox's processes, nor anything else the
   * agent's parent left open. */
  fcntl(AGENT_FD, F_SETFD, fl | FD_CLOEXEC);
  close_range(AGENT_FD + 1, ~0u, 0);

  bool is_init = getpid() == 1;
  /* Outside a PID namespace, adopt orphans so they are reaped (and killed on exit)
   * here rather than by the host's init. */
  if (!is_init) prctl(PR_SET_CHILD_SUBREAPER, 1);

  int sigfd = setup_signals();
  if (sigfd < 0) {
    agent_log("signalfd: %s", strerror(errno));
    return 1;
  }
  /* Fixed thresholds: glibc otherwise raises them after large frames and keeps the
   * memory mapped for good. */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_TRIM_THRESHOLD, 128 * 1024);
  if (!wire_init()) {
    agent_log("out of memory");
    return 1;
  }

  /* Before READY: the sandbox's first command already sees the store complete. */
  if (host_ca != NULL) trust_install(trust_root, host_ca);
  wire_send_u32(MSG_READY, 0, PROTOCOL_VERSION);
  int rc = serve(sigfd, is_init);
  fs_close_all();
  proc_kill_all(is_init);
  return rc;
}
