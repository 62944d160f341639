/*
 * The process table: EXEC, stdin/stdout/stderr pumping with flow control, signals,
 * reaping and EXIT.
 *
 * A process is finished (EXIT is sent) once it was started, it was reaped, and both
 * output pipes are closed. A pipe closes at EOF, or, after the reap, once the bytes that
 * were in it at that moment have been sent: descendants that keep the pipe open (a
 * `sleep 30 &`) do not hold EXIT back, and nothing the process itself wrote is lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

struct proc {
  struct proc *next;
  uint32_t id;
  pid_t pid;
  int fd_errp;      /* read end of the close-on-exec error pipe, until exec is known */
  int fd_in;        /* write end of the child's stdin, -1 without stdin or once closed */
  int fd_out[2];    /* read ends of stdout and stderr */
  int poll_errp;    /* index in this iteration's pollfds, or -1 */
  int poll_in;
  int poll_out[2];
  uint64_t win[2];  /* bytes of output the daemon still accepts */
  int64_t drain[2]; /* after the reap: bytes left to send before closing, else -1 */
  bool has_stdin;
  bool started;
  bool failed;
  bool reaped;
  bool close_in;    /* STDIN_CLOSE arrived while bytes were still buffered */
  int status;
  uint8_t *ibuf;    /* stdin bytes the pipe did not take yet (≤ STDIN_WINDOW) */
  uint32_t ioff;
  uint32_t ilen;
};

static struct proc *procs;
static size_t nprocs;

static struct proc *find_id(uint32_t id) {
  for (struct proc *p = procs; p; p = p->next)
    if (p->id == id) return p;
  return NULL;
}

bool proc_owns(uint32_t id) { return find_id(id) != NULL; }

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void drop_stdin(struct proc *p) {
  close_fd(&p->fd_in);
  free(p->ibuf);
  p->ibuf = NULL;
  p->ioff = p->ilen = 0;
}

static void free_proc(struct proc *p) {
  close_fd(&p->fd_errp);
  close_fd(&p->fd_out[0]);
  close_fd(&p->fd_out[1]);
  drop_stdin(p);
  free(p);
  nprocs--;
}

static void start(uint32_t id, const struct spawn_req *req) {
  if (req->argv[0] == NULL) {
    wire_send_error(id, EINVAL, "argv is empty");
    return;
  }
  struct proc *p = calloc(1, sizeof *p);
  struct spawned s;
  int err = p == NULL ? ENOMEM : spawn_process(req, &s);
  if (err) {
    free(p);
    wire_send_error(id, err, strerror(err));
    return;
  }
  *p = (struct proc){.next = procs, .id = id, .pid = s.pid, .fd_errp = s.errp, .fd_in = s.in,
                     .fd_out = {s.out, s.err}, .poll_errp = -1, .poll_in = -1,
                     .poll_out = {-1, -1}, .win = {OUTPUT_WINDOW, OUTPUT_WINDOW},
                     .drain = {-1, -1}, .has_stdin = (req->flags & 1) != 0};
  procs = p;
  nprocs++;
}

static bool on_exec(uint32_t id, const uint8_t *payload, size_t len) {
  struct reader r = reader_of(payload, len);
  struct spawn_req req;
  req.flags = rd_u32(&r);
  req.cwd = rd_cstr(&r);
  req.argv = rd_cstr_list(&r);
  req.envp = rd_cstr_list(&r);
  req.uid = rd_u32(&r);
  req.gid = rd_u32(&r);
  bool ok = !r.truncated && id != 0 && !id_in_use(id);
  if (ok && r.err) wire_send_error(id, r.err, r.err == EINVAL ? "NUL in a string" : "no memory");
  else if (ok) start(id, &req);
  free(req.cwd);
  free(req.argv);
  free(req.envp);
  return ok;
}

/* Writes buffered stdin into the pipe and gives the daemon the space back. */
static void flush_stdin(struct proc *p) {
  uint32_t acked = 0;
  while (p->ilen > 0 && p->fd_in >= 0) {
    ssize_t w = write(p->fd_in, p->ibuf + p->ioff, p->ilen);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) {
      /* The reader went away (EPIPE): what is left is dropped, but still acknowledged
       * so the daemon's writer does not wait forever. */
      acked += p->ilen;
      drop_stdin(p);
      break;
    }
    acked += (uint32_t)w;
    p->ioff += (uint32_t)w;
    p->ilen -= (uint32_t)w;
  }
  if (p->ilen == 0) {
    free(p->ibuf);
    p->ibuf = NULL;
    p->ioff = 0;
    if (p->close_in) close_fd(&p->fd_in);
  }
  if (acked) wire_send_u32(MSG_STDIN_WINDOW, p->id, acked);
}

static bool on_stdin(struct proc *p, const uint8_t *data, size_t len) {
  if (!p->has_stdin || p->failed || len == 0) return true;
  if (p->fd_in < 0 || p->close_in) {
    wire_send_u32(MSG_STDIN_WINDOW, p->id, (uint32_t)len);
    return true;
  }
  if (p->ilen + len > STDIN_WINDOW) {
    agent_log("STDIN for id %u exceeds the window", p->id);
    return false;
  }
  if (p->ibuf == NULL) {
    p->ibuf = malloc(STDIN_WINDOW);
    if (p->ibuf == NULL) {
      wire_send_u32(MSG_STDIN_WINDOW, p->id, (uint32_t)len);
      return true;
    }
  }
  if (p->ioff + p->ilen + len > STDIN_WINDOW) {
    memmove(p->ibuf, p->ibuf + p->ioff, p->ilen);
    p->ioff = 0;
  }
  memcpy(p->ibuf + p->ioff + p->ilen, data, len);
  p->ilen += (uint32_t)len;
  flush_stdin(p);
  return true;
}

bool proc_handle_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
  if (type == MSG_EXEC) return on_exec(id, payload, len);
  struct proc *p = find_id(id);
  if (p == NULL) return true; /* late frames for a finished process */
  if (type == MSG_STDIN) return on_stdin(p, payload, len);
  if (type == MSG_STDIN_CLOSE) {
    if (p->ilen == 0) close_fd(&p->fd_in);
    else p->close_in = true;
    return true;
  }
  struct reader r = reader_of(payload, len);
  uint32_t signo = rd_u32(&r);
  if (r.truncated) return false;
  /* Once reaped, the pid (and so the group id) may belong to someone else. */
  if (p->reaped || p->failed || signo > 64) return true;
  if (kill(-p->pid, (int)signo) < 0 && errno == ESRCH) kill(p->pid, (int)signo);
  return true;
}

bool proc_window(uint32_t id, uint32_t out, uint32_t err) {
  struct proc *p = find_id(id);
  if (p == NULL) return false;
  /* A generous cap keeps the sums from overflowing whatever the daemon sends. */
  const uint64_t cap = (uint64_t)1 << 40;
  p->win[0] = p->win[0] + out > cap ? cap : p->win[0] + out;
  p->win[1] = p->win[1] + err > cap ? cap : p->win[1] + err;
  return true;
}

size_t proc_poll_slots(void) { return nprocs * 4; }

static int add_poll(struct pollfd *fds, size_t *n, int fd, short events) {
  fds[*n] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
  return (int)(*n)++;
}

size_t proc_fill_poll(struct pollfd *fds, size_t n) {
  for (struct proc *p = procs; p; p = p->next) {
    p->poll_errp = p->fd_errp >= 0 ? add_poll(fds, &n, p->fd_errp, POLLIN) : -1;
    p->poll_in = p->fd_in >= 0 && p->ilen > 0 ? add_poll(fds, &n, p->fd_in, POLLOUT) : -1;
    for (int k = 0; k < 2; k++) {
      bool want = p->started && p->fd_out[k] >= 0 && p->win[k] > 0;
      p->poll_out[k] = want ? add_poll(fds, &n, p->fd_out[k], POLLIN) : -1;
    }
  }
  return n;
}

static void on_errpipe(struct proc *p) {
  int report[2];
  ssize_t n = read(p->fd_errp, report, sizeof report);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  close_fd(&p->fd_errp);
  if (n == 0) {
    p->started = true;
    wire_send_u32(MSG_STARTED, p->id, (uint32_t)p->pid);
    return;
  }
  char msg[128];
  int e = spawn_failure(report, n, msg, sizeof msg);
  p->failed = true;
  wire_send_error(p->id, e, msg);
}

static void on_output(struct proc *p, int k) {
  uint64_t n = p->win[k] < OUTPUT_CHUNK ? p->win[k] : OUTPUT_CHUNK;
  if (p->drain[k] >= 0 && (uint64_t)p->drain[k] < n) n = (uint64_t)p->drain[k];
  if (n == 0) return;
  ssize_t r = read(p->fd_out[k], g_scratch, n);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) {
    close_fd(&p->fd_out[k]);
    return;
  }
  wire_send(k == 0 ? MSG_STDOUT : MSG_STDERR, p->id, g_scratch, (size_t)r, NULL, 0);
  p->win[k] -= (uint64_t)r;
  if (p->drain[k] >= 0) {
    p->drain[k] -= r;
    if (p->drain[k] == 0) close_fd(&p->fd_out[k]);
  }
}

void proc_on_poll(const struct pollfd *fds) {
  for (struct proc *p = procs; p; p = p->next) {
    if (p->poll_errp >= 0 && fds[p->poll_errp].revents && p->fd_errp >= 0) on_errpipe(p);
    if (p->poll_in >= 0 && fds[p->poll_in].revents && p->fd_in >= 0) flush_stdin(p);
    for (int k = 0; k < 2; k++)
      if (p->poll_out[k] >= 0 && fds[p->poll_out[k]].revents && p->fd_out[k] >= 0)
        on_output(p, k);
  }
}

static void mark_reaped(struct proc *p, int status) {
  p->reaped = true;
  p->status = status;
  drop_stdin(p);
  for (int k = 0; k < 2; k++) {
    if (p->fd_out[k] < 0) continue;
    int avail = 0;
    if (ioctl(p->fd_out[k], FIONREAD, &avail) < 0 || avail <= 0) close_fd(&p->fd_out[k]);
    else p->drain[k] = avail;
  }
}

bool proc_reap(void) {
  /* Bounded so that a storm of dying orphans cannot starve the rest of the loop. */
  for (int i = 0; i < 256; i++) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return false;
    for (struct proc *p = procs; p; p = p->next) {
      if (p->pid == pid && !p->reaped) {
        mark_reaped(p, status);
        break;
      }
    }
  }
  return true;
}

void proc_sweep(void) {
  for (struct proc **pp = &procs; *pp;) {
    struct proc *p = *pp;
    bool done = p->failed || (p->started && p->reaped && p->fd_out[0] < 0 && p->fd_out[1] < 0);
    if (!done) {
      pp = &p->next;
      continue;
    }
    if (!p->failed) {
      uint8_t exit[8];
      bool sig = WIFSIGNALED(p->status);
      put_u32(exit, sig ? UINT32_MAX : (uint32_t)WEXITSTATUS(p->status));
      put_u32(exit + 4, sig ? (uint32_t)WTERMSIG(p->status) : 0);
      wire_send(MSG_EXIT, p->id, exit, sizeof exit, NULL, 0);
    }
    *pp = p->next;
    free_proc(p);
  }
}

/* Reads the pids of the agent's direct children; -1 when the kernel cannot tell. */
static int read_children(pid_t *out, int max) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  int count = 0;
  for (char *s = buf; count < max && *s;) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s) break;
    if (v > 0) out[count++] = (pid_t)v;
    s = end;
  }
  return count;
}

void proc_kill_all(bool is_init) {
  if (is_init) {
    kill(-1, SIGKILL);
  } else {
    /* Not the sandbox's init (a development or test run): never kill(-1). Kill the
     * groups of unreaped children (their pids cannot have been reused), then whatever
     * is left among the direct children, which as a subreaper includes orphans. */
    for (struct proc *p = procs; p; p = p->next) {
      if (!p->reaped && !p->failed) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
      }
    }
    pid_t kids[256];
    int n;
    while ((n = read_children(kids, 256)) > 0) {
      for (int i = 0; i < n; i++) kill(kids[i], SIGKILL);
      for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
    }
    if (n < 0) {
      for (struct proc *p = procs; p; p = p->next)
        if (!p->reaped) waitpid(p->pid, NULL, 0);
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      goto out;
    }
  }
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
out:
  while (procs) {
    struct proc *p = procs;
    procs = p->next;
    free_proc(p);
  }
}
