/*
 * strata-agent: the init process and remote hands of a Strata sandbox.
 * The wire contract is docs/agent-protocol.md; this header holds what the modules share.
 */
#ifndef STRATA_AGENT_H
#define STRATA_AGENT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PROTOCOL_VERSION 2u
#define AGENT_FD 3

/* The length field counts type + id + payload. */
#define MAX_FRAME_LEN (1024u * 1024u + 5u)
/* Largest STDOUT/STDERR/FS_DATA/DIRENTS payload the agent sends. */
#define OUTPUT_CHUNK (64u * 1024u)
/* Bytes of each output stream the daemon may receive before it grants more (WINDOW). */
#define OUTPUT_WINDOW (256u * 1024u)
/* FS_READ: largest FS_DATA payload, and the bytes the daemon takes before it grants more.
 * Files move in larger frames than process output: fewer frames and grants per MiB. */
#define FILE_CHUNK (256u * 1024u)
#define FILE_WINDOW (1024u * 1024u)
/* Bytes of STDIN the agent buffers per process before it acknowledges (STDIN_WINDOW). */
#define STDIN_WINDOW (64u * 1024u)
/* EXEC uid/gid meaning "keep the agent's own". */
#define ID_KEEP UINT32_MAX

enum {
  MSG_EXEC = 0x01,
  MSG_STDIN = 0x02,
  MSG_STDIN_CLOSE = 0x03,
  MSG_SIGNAL = 0x04,
  MSG_WINDOW = 0x05,
  MSG_FS_READ = 0x10,
  MSG_FS_WRITE = 0x11,
  MSG_FS_DATA = 0x12,
  MSG_FS_END = 0x13,
  MSG_FS_STAT = 0x14,
  MSG_FS_READDIR = 0x15,
  MSG_FS_MKDIR = 0x16,
  MSG_FS_REMOVE = 0x17,
  MSG_FS_RENAME = 0x18,
  MSG_FS_CHMOD = 0x19,
  MSG_READY = 0x80,
  MSG_STARTED = 0x81,
  MSG_STDOUT = 0x82,
  MSG_STDERR = 0x83,
  MSG_EXIT = 0x84,
  MSG_STDIN_WINDOW = 0x85,
  MSG_OK = 0x8c,
  MSG_STAT = 0x8d,
  MSG_DIRENTS = 0x8e,
  MSG_ERROR = 0x8f,
};

/* ---- wire.c: framing over fd 3 ---- */

/* A cursor over a received payload. Reads past the end set `truncated` (a protocol
 * violation); `err` holds an errno to answer with (EINVAL for a NUL in a str, ENOMEM). */
struct reader {
  const uint8_t *p;
  size_t left;
  bool truncated;
  int err;
};

struct reader reader_of(const uint8_t *payload, size_t len);
uint32_t rd_u32(struct reader *r);
/* A str field as a malloc'd NUL-terminated copy; NULL when truncated or on r->err. */
char *rd_cstr(struct reader *r);
/* A list<str> field as one malloc'd NULL-terminated vector (free the vector only). */
char **rd_cstr_list(struct reader *r);

void put_u32(uint8_t *p, uint32_t v);
void put_u64(uint8_t *p, uint64_t v);

/* Set once fd 3 failed or reached EOF; sends become no-ops and the loop shuts down. */
extern bool g_peer_gone;
/* Scratch space for one outgoing payload (pipe reads, file reads, DIRENTS). */
extern uint8_t g_scratch[OUTPUT_CHUNK];

bool wire_init(void);
/* Sends one frame whose payload is a followed by b; blocks until it is written. */
void wire_send(uint8_t type, uint32_t id, const void *a, size_t alen, const void *b,
               size_t blen);
void wire_send_u32(uint8_t type, uint32_t id, uint32_t v);
void wire_send_ok(uint32_t id);
void wire_send_error(uint32_t id, int err, const char *what);
/* Reads what fd 3 has and dispatches every complete frame.
 * Returns 1 to go on, 0 on EOF or a dead socket, -1 on a protocol violation. */
int wire_receive(void);

/* ---- main.c ---- */

/* Handles one frame; false means a protocol violation. */
bool dispatch_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len);
/* Whether a process or a file transfer currently owns the id. */
bool id_in_use(uint32_t id);
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- proc.c: processes ---- */

bool proc_handle_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len);
/* Adds to a process's output windows; false when no process has the id. */
bool proc_window(uint32_t id, uint32_t out, uint32_t err);
bool proc_owns(uint32_t id);
/* Upper bound of the pollfds proc_fill_poll adds. */
size_t proc_poll_slots(void);
/* Appends the processes' fds to fds[n...]; returns the new count. */
size_t proc_fill_poll(struct pollfd *fds, size_t n);
void proc_on_poll(const struct pollfd *fds);
/* Reaps exited children; true when it stopped early and more may be waiting. */
bool proc_reap(void);
/* Sends EXIT for finished processes and forgets them. */
void proc_sweep(void);
/* Kills what the agent may kill (see main.c) and reaps it. */
void proc_kill_all(bool is_init);

/* ---- spawn.c: starting commands ---- */

struct spawn_req {
  uint32_t flags; /* EXEC flags */
  char *cwd;
  char **argv;
  char **envp;
  uint32_t uid;
  uint32_t gid;
};

/* The parent's ends: the error pipe, stdin (-1 without), stdout and stderr. */
struct spawned {
  pid_t pid;
  int errp;
  int in;
  int out;
  int err;
};

/* Forks a child that execs req->argv; returns 0, or an errno when nothing started. */
int spawn_process(const struct spawn_req *req, struct spawned *out);
/* Turns what was read from the error pipe into a message; returns the errno. */
int spawn_failure(const int report[2], ssize_t n, char *msg, size_t cap);

/* ---- fs.c: file operations ---- */

bool fs_handle_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len);
bool fs_window(uint32_t id, uint32_t n);
bool fs_owns(uint32_t id);
/* Sends one chunk of every file read that has window; true if any can send more now. */
bool fs_pump(void);
void fs_close_all(void);

/* ---- trust.c: the host's CA certificates in the sandbox's trust store ---- */

/* Brings the system trust store under `root` ("" in a sandbox) to the certificates of
 * `host_file` on top of the image's own ("" for none: removes what an earlier start
 * added). Best effort: a failure is logged and the sandbox starts anyway. */
void trust_install(const char *root, const char *host_file);

#endif
