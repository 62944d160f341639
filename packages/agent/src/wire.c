/* Frame codec over fd 3: big-endian fields, a growable input buffer, blocking sends. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent.h"

/* Large enough for a full-size FS_DATA chunk plus its header, so ordinary frames never
 * make the buffer grow. */
#define IN_DEFAULT_CAP (FILE_CHUNK + 64u)

bool g_peer_gone;
uint8_t g_scratch[OUTPUT_CHUNK];

static uint8_t *in_buf;
static size_t in_cap;
static size_t in_len;

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

struct reader reader_of(const uint8_t *payload, size_t len) {
  return (struct reader){.p = payload, .left = len, .truncated = false, .err = 0};
}

uint32_t rd_u32(struct reader *r) {
  if (r->left < 4) {
    r->truncated = true;
    r->left = 0;
    return 0;
  }
  uint32_t v = get_u32(r->p);
  r->p += 4;
  r->left -= 4;
  return v;
}

/* Consumes a str field; returns its bytes (not a copy) or NULL when truncated. */
static const uint8_t *rd_raw_str(struct reader *r, uint32_t *n) {
  *n = rd_u32(r);
  if (r->truncated || *n > r->left) {
    r->truncated = true;
    r->left = 0;
    return NULL;
  }
  const uint8_t *s = r->p;
  r->p += *n;
  r->left -= *n;
  return s;
}

char *rd_cstr(struct reader *r) {
  uint32_t n;
  const uint8_t *s = rd_raw_str(r, &n);
  if (s == NULL || r->err) return NULL;
  if (memchr(s, 0, n) != NULL) {
    r->err = EINVAL;
    return NULL;
  }
  char *copy = malloc((size_t)n + 1);
  if (copy == NULL) {
    r->err = ENOMEM;
    return NULL;
  }
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}

char **rd_cstr_list(struct reader *r) {
  uint32_t count = rd_u32(r);
  /* Every entry takes at least its 4-byte length, which bounds the allocation. */
  if (r->truncated || count > r->left / 4) {
    r->truncated = true;
    r->left = 0;
    return NULL;
  }
  struct reader scan = *r;
  size_t bytes = 0;
  for (uint32_t i = 0; i < count; i++) {
    uint32_t n;
    const uint8_t *s = rd_raw_str(&scan, &n);
    if (s == NULL) {
      *r = scan;
      return NULL;
    }
    if (memchr(s, 0, n) != NULL) r->err = EINVAL;
    bytes += (size_t)n + 1;
  }
  if (r->err) {
    *r = (struct reader){.p = scan.p, .left = scan.left, .truncated = false, .err = r->err};
    return NULL;
  }
  char **vec = malloc(((size_t)count + 1) * sizeof(char *) + bytes);
  if (vec == NULL) {
    *r = (struct reader){.p = scan.p, .left = scan.left, .truncated = false, .err = ENOMEM};
    return NULL;
  }
  char *out = (char *)(vec + count + 1);
  for (uint32_t i = 0; i < count; i++) {
    uint32_t n;
    const uint8_t *s = rd_raw_str(r, &n);
    memcpy(out, s, n);
    out[n] = '\0';
    vec[i] = out;
    out += (size_t)n + 1;
  }
  vec[count] = NULL;
  return vec;
}

bool wire_init(void) {
  in_cap = IN_DEFAULT_CAP;
  in_buf = malloc(in_cap);
  return in_buf != NULL;
}

static bool write_all(struct iovec *iov, int cnt) {
  while (cnt > 0) {
    ssize_t w = writev(AGENT_FD, iov, cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        /* The socket was handed over non-blocking: wait as a blocking write would. */
        struct pollfd p = {.fd = AGENT_FD, .events = POLLOUT, .revents = 0};
        if (poll(&p, 1, -1) < 0 && errno != EINTR) return false;
        continue;
      }
      return false;
    }
    size_t done = (size_t)w;
    while (cnt > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt > 0) {
      iov->iov_base = (uint8_t *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return true;
}

void wire_send(uint8_t type, uint32_t id, const void *a, size_t alen, const void *b,
               size_t blen) {
  if (g_peer_gone) return;
  uint8_t head[9];
  put_u32(head, (uint32_t)(5 + alen + blen));
  head[4] = type;
  put_u32(head + 5, id);
  struct iovec iov[3] = {
      {.iov_base = head, .iov_len = sizeof head},
      {.iov_base = (void *)a, .iov_len = alen},
      {.iov_base = (void *)b, .iov_len = blen},
  };
  if (!write_all(iov, 3)) g_peer_gone = true;
}

void wire_send_u32(uint8_t type, uint32_t id, uint32_t v) {
  uint8_t p[4];
  put_u32(p, v);
  wire_send(type, id, p, sizeof p, NULL, 0);
}

void wire_send_ok(uint32_t id) { wire_send(MSG_OK, id, NULL, 0, NULL, 0); }

void wire_send_error(uint32_t id, int err, const char *what) {
  uint8_t p[8];
  size_t n = strlen(what);
  put_u32(p, (uint32_t)err);
  put_u32(p + 4, (uint32_t)n);
  wire_send(MSG_ERROR, id, p, sizeof p, what, n);
}

int wire_receive(void) {
  ssize_t r = read(AGENT_FD, in_buf + in_len, in_cap - in_len);
  if (r < 0) return errno == EINTR || errno == EAGAIN ? 1 : 0;
  if (r == 0) return 0;
  in_len += (size_t)r;

  size_t pos = 0;
  size_t need = 0;
  while (in_len - pos >= 4) {
    uint32_t len = get_u32(in_buf + pos);
    if (len < 5 || len > MAX_FRAME_LEN) {
      agent_log("frame length %u out of range", len);
      return -1;
    }
    if (in_len - pos - 4 < len) {
      need = 4 + (size_t)len;
      break;
    }
    const uint8_t *f = in_buf + pos + 4;
    if (!dispatch_frame(f[0], get_u32(f + 1), f + 5, len - 5)) return -1;
    pos += 4 + (size_t)len;
  }
  memmove(in_buf, in_buf + pos, in_len - pos);
  in_len -= pos;

  /* Grow for a frame larger than the buffer; give the memory back once idle. */
  size_t want = need > in_cap ? need : (in_len == 0 ? IN_DEFAULT_CAP : in_cap);
  if (want != in_cap) {
    uint8_t *b = realloc(in_buf, want);
    if (b == NULL) {
      if (want > in_cap) {
        agent_log("out of memory for a %zu-byte frame", want);
        return -1;
      }
    } else {
      in_buf = b;
      in_cap = want;
    }
  }
  return 1;
}
