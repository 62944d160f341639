/*
 * File operations, run by the agent itself inside the sandbox's namespaces.
 *
 * Files are opened O_NONBLOCK and must be regular: a FIFO or a device planted by code in
 * the sandbox could otherwise block the agent's only thread, or stream forever.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

/* Deeper trees are refused (ENAMETOOLONG) rather than recursed into: each level holds
 * a descriptor and a small buffer. */
#define REMOVE_MAX_DEPTH 1024
#define DENTS_BUF 2048

struct xfer {
  struct xfer *next;
  uint32_t id;
  int fd;
  bool writing;
  uint64_t win; /* reads: FS_DATA bytes the daemon still accepts */
};

static struct xfer *xfers;
/* One chunk of a file being read (FS_DATA payload). */
static uint8_t file_buf[FILE_CHUNK];

static struct xfer *find(uint32_t id) {
  for (struct xfer *x = xfers; x; x = x->next)
    if (x->id == id) return x;
  return NULL;
}

bool fs_owns(uint32_t id) { return find(id) != NULL; }

static void drop(struct xfer *x) {
  for (struct xfer **pp = &xfers; *pp; pp = &(*pp)->next) {
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  }
  if (x->fd >= 0) close(x->fd);
  free(x);
}

static void fail(uint32_t id, int err) { wire_send_error(id, err, strerror(err)); }

static int open_regular(const char *path, int flags, mode_t mode) {
  int fd = open(path, flags | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, mode);
  if (fd < 0) return -errno;
  struct stat st;
  int e = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR
                                     : !S_ISREG(st.st_mode) ? EINVAL : 0;
  if (e) {
    close(fd);
    return -e;
  }
  return fd;
}

static void send_stat(uint32_t id, const struct stat *st, const char *link, size_t ln);

static void start_xfer(uint32_t id, int fd, bool writing) {
  if (fd < 0) return fail(id, -fd);
  struct xfer *x = malloc(sizeof *x);
  if (x == NULL) {
    close(fd);
    return fail(id, ENOMEM);
  }
  *x = (struct xfer){.next = xfers, .id = id, .fd = fd, .writing = writing,
                     .win = FILE_WINDOW};
  xfers = x;
  if (!writing) {
    /* A read starts with the STAT of the file it opened: its size, with no second request
     * and no window for the file to change between a stat and the open. */
    struct stat st;
    if (fstat(fd, &st) < 0) {
      int e = errno;
      drop(x);
      return fail(id, e);
    }
    send_stat(id, &st, NULL, 0);
  }
}

static void on_data(uint32_t id, const uint8_t *data, size_t len) {
  struct xfer *x = find(id);
  if (x == NULL || !x->writing) return;
  while (len > 0) {
    ssize_t w = write(x->fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      /* Answered at once, so the daemon stops streaming; the rest of this id is ignored. */
      int e = w < 0 ? errno : EIO;
      drop(x);
      return fail(id, e);
    }
    data += w;
    len -= (size_t)w;
  }
}

static void on_end(uint32_t id) {
  struct xfer *x = find(id);
  if (x == NULL) return;
  if (!x->writing) return drop(x); /* the daemon cancelled a read */
  int fd = x->fd;
  x->fd = -1;
  drop(x);
  if (close(fd) < 0) return fail(id, errno);
  wire_send_ok(id);
}

bool fs_window(uint32_t id, uint32_t n) {
  struct xfer *x = find(id);
  if (x == NULL) return false;
  const uint64_t cap = (uint64_t)1 << 40;
  x->win = x->win + n > cap ? cap : x->win + n;
  return true;
}

bool fs_pump(void) {
  bool more = false;
  for (struct xfer *x = xfers, *next; x; x = next) {
    next = x->next;
    if (x->writing || x->win == 0) continue;
    size_t n = x->win < FILE_CHUNK ? (size_t)x->win : FILE_CHUNK;
    ssize_t r = read(x->fd, file_buf, n);
    if (r < 0 && errno == EINTR) {
      more = true;
    } else if (r < 0) {
      int e = errno;
      uint32_t id = x->id;
      drop(x);
      fail(id, e);
    } else if (r == 0) {
      wire_send(MSG_FS_END, x->id, NULL, 0, NULL, 0);
      drop(x);
    } else {
      wire_send(MSG_FS_DATA, x->id, file_buf, (size_t)r, NULL, 0);
      x->win -= (uint64_t)r;
      more = more || x->win > 0;
    }
  }
  return more;
}

void fs_close_all(void) {
  while (xfers) drop(xfers);
}

static int64_t ms(struct timespec t) { return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000; }

static void send_stat(uint32_t id, const struct stat *st, const char *link, size_t ln) {
  uint8_t p[56];
  put_u32(p, st->st_mode);
  put_u32(p + 4, st->st_uid);
  put_u32(p + 8, st->st_gid);
  put_u64(p + 12, (uint64_t)st->st_size);
  put_u64(p + 20, (uint64_t)ms(st->st_mtim));
  put_u64(p + 28, (uint64_t)ms(st->st_atim));
  put_u64(p + 36, (uint64_t)ms(st->st_ctim));
  put_u64(p + 44, (uint64_t)st->st_nlink);
  put_u32(p + 52, (uint32_t)ln);
  wire_send(MSG_STAT, id, p, sizeof p, link, ln);
}

static void do_stat(uint32_t id, uint32_t flags, const char *path) {
  struct stat st;
  bool nofollow = flags & 1;
  if ((nofollow ? lstat(path, &st) : stat(path, &st)) < 0) return fail(id, errno);
  char link[4096];
  ssize_t ln = 0;
  if (nofollow && S_ISLNK(st.st_mode)) {
    ln = readlink(path, link, sizeof link);
    if (ln < 0) ln = 0;
  }
  send_stat(id, &st, link, (size_t)ln);
}

static uint8_t dirent_type(DIR *d, const struct dirent *e) {
  unsigned char t = e->d_type;
  if (t == DT_UNKNOWN) {
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 4;
    t = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR
                                     : S_ISLNK(st.st_mode) ? DT_LNK : DT_UNKNOWN;
  }
  return t == DT_REG ? 1 : t == DT_DIR ? 2 : t == DT_LNK ? 3 : 4;
}

static void do_readdir(uint32_t id, const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) return fail(id, errno);
  size_t pos = 4;
  uint32_t count = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (e == NULL && errno != 0) {
      int err = errno;
      closedir(d);
      return fail(id, err);
    }
    size_t n = e ? strlen(e->d_name) : 0;
    if (e == NULL || pos + 5 + n > OUTPUT_CHUNK) {
      if (count > 0) {
        put_u32(g_scratch, count);
        wire_send(MSG_DIRENTS, id, g_scratch, pos, NULL, 0);
      }
      pos = 4;
      count = 0;
      if (e == NULL) break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    g_scratch[pos] = dirent_type(d, e);
    put_u32(g_scratch + pos + 1, (uint32_t)n);
    memcpy(g_scratch + pos + 5, e->d_name, n);
    pos += 5 + n;
    count++;
  }
  closedir(d);
  wire_send(MSG_FS_END, id, NULL, 0, NULL, 0);
}

static int mkdir_p(char *path, mode_t mode) {
  /* Parents get u+wx so the next level can be created, as `mkdir -p` does. */
  for (char *s = path + 1; *s; s++) {
    if (*s != '/' || s[-1] == '/') continue;
    *s = '\0';
    int rc = mkdir(path, mode | S_IWUSR | S_IXUSR);
    *s = '/';
    if (rc < 0 && errno != EEXIST) return errno;
  }
  if (mkdir(path, mode) == 0) return 0;
  int e = errno;
  struct stat st;
  if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  return e;
}

/* Empties the directory open as dfd without ever following a symlink: entries are
 * opened relative to their parent with O_NOFOLLOW, so a link swapped in mid-walk is
 * unlinked, not entered. */
static int remove_contents(int dfd, unsigned depth) {
  if (depth >= REMOVE_MAX_DEPTH) return ENAMETOOLONG;
  char *buf = malloc(DENTS_BUF);
  if (buf == NULL) return ENOMEM;
  int err = 0;
  for (;;) {
    ssize_t n = getdents64(dfd, buf, DENTS_BUF);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    for (ssize_t off = 0; off < n && err == 0;) {
      struct dirent64 *e = (struct dirent64 *)(buf + off);
      off += e->d_reclen;
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      if (e->d_type != DT_DIR && unlinkat(dfd, e->d_name, 0) == 0) continue;
      if (e->d_type != DT_DIR && errno != EISDIR) {
        if (errno != ENOENT) err = errno;
        continue;
      }
      int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        if (errno == ENOTDIR || errno == ELOOP) err = unlinkat(dfd, e->d_name, 0) < 0 ? errno : 0;
        else if (errno != ENOENT) err = errno;
        if (err == ENOENT) err = 0;
        continue;
      }
      err = remove_contents(sub, depth + 1);
      close(sub);
      if (err == 0 && unlinkat(dfd, e->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) err = errno;
    }
    if (err) break;
  }
  free(buf);
  return err;
}

static int do_remove(uint32_t flags, const char *path) {
  if (!(flags & 1)) {
    if (unlink(path) == 0) return 0;
    if (errno != EISDIR) return errno;
    return rmdir(path) < 0 ? errno : 0;
  }
  struct stat st;
  if (lstat(path, &st) < 0) return errno;
  if (!S_ISDIR(st.st_mode)) return unlink(path) < 0 ? errno : 0;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = remove_contents(fd, 0);
  close(fd);
  if (err) return err;
  return rmdir(path) < 0 ? errno : 0;
}

static void answer(uint32_t id, int err) {
  if (err) fail(id, err);
  else wire_send_ok(id);
}

bool fs_handle_frame(uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
  if (type == MSG_FS_DATA) {
    on_data(id, payload, len);
    return true;
  }
  if (type == MSG_FS_END) {
    on_end(id);
    return true;
  }
  if (id == 0 || id_in_use(id)) return false;
  struct reader r = reader_of(payload, len);
  uint32_t flags = 0, mode = 0;
  if (type == MSG_FS_WRITE || type == MSG_FS_STAT || type == MSG_FS_MKDIR ||
      type == MSG_FS_REMOVE)
    flags = rd_u32(&r);
  if (type == MSG_FS_WRITE || type == MSG_FS_MKDIR || type == MSG_FS_CHMOD) mode = rd_u32(&r);
  char *path = rd_cstr(&r);
  char *to = type == MSG_FS_RENAME ? rd_cstr(&r) : NULL;
  if (r.truncated) {
    free(path);
    free(to);
    return false;
  }
  mode &= 07777;
  if (r.err) {
    fail(id, r.err);
  } else if (type == MSG_FS_READ) {
    start_xfer(id, open_regular(path, O_RDONLY, 0), false);
  } else if (type == MSG_FS_WRITE) {
    int o = O_WRONLY | (flags & 1 ? O_CREAT : 0) | (flags & 2 ? O_TRUNC : 0) |
            (flags & 4 ? O_APPEND : 0) | (flags & 8 ? O_EXCL : 0);
    start_xfer(id, open_regular(path, o, mode), true);
  } else if (type == MSG_FS_STAT) {
    do_stat(id, flags, path);
  } else if (type == MSG_FS_READDIR) {
    do_readdir(id, path);
  } else if (type == MSG_FS_MKDIR) {
    answer(id, flags & 1 ? mkdir_p(path, mode) : (mkdir(path, mode) < 0 ? errno : 0));
  } else if (type == MSG_FS_REMOVE) {
    answer(id, do_remove(flags, path));
  } else if (type == MSG_FS_RENAME) {
    answer(id, rename(path, to) < 0 ? errno : 0);
  } else {
    answer(id, chmod(path, mode) < 0 ? errno : 0);
  }
  free(path);
  free(to);
  return true;
}
