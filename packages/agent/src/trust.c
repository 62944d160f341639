/*
 * The host's CA certificates in the sandbox's system trust store (docs/agent-protocol.md,
 * "Trust store"). Runs once at start, before READY, as the sandbox's root and in its mount
 * namespace: every path here is the sandbox's own, so a symlink planted in its root can
 * only redirect the agent to another of the sandbox's files.
 *
 * Host certificates the image's bundle lacks are
 *   - appended to /etc/ssl/certs/ca-certificates.crt after a marker line (GnuTLS, OpenSSL,
 *     curl and apt read that file, also under sudo, which resets the environment), and
 *   - kept one per file in /usr/local/share/ca-certificates/strata/, so that
 *     update-ca-certificates (a ca-certificates upgrade) keeps them in the bundle it
 *     rebuilds.
 * Both are brought to what the host file says at every start: certificates the host no
 * longer has (or all of them, with no host file) are taken out again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "agent.h"

#define BUNDLE_DIR "/etc/ssl/certs"
#define BUNDLE BUNDLE_DIR "/ca-certificates.crt"
#define LOCAL_DIR "/usr/local/share/ca-certificates"
#define OWN_DIR LOCAL_DIR "/strata"
/* update-ca-certificates links each local file as /etc/ssl/certs/<basename>.pem: the
 * names must not collide with anyone else's. */
#define OWN_PREFIX "strata-host-"
#define MARKER "# strata-agent: the host's CA certificates (" OWN_DIR ")\n"
/* Bundles are a few hundred KiB; anything much larger is not a trust store. */
#define MAX_STORE_FILE (16u << 20)
/* More host certificates than this are ignored (a host bundle has about 150). */
#define MAX_CERTS 4096

static const char BEGIN[] = "-----BEGIN CERTIFICATE-----";
static const char END[] = "-----END CERTIFICATE-----";

struct buf {
  char *p;
  size_t len;
};

/* A PEM block inside some buffer, from its BEGIN line to the end of its END marker. */
struct cert {
  const char *p;
  size_t len;
  uint64_t key; /* of the body's last base64 characters (see cert_key) */
};

struct certs {
  struct cert *v;
  size_t n;
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* Reads a whole regular file (O_NONBLOCK: a FIFO planted there must not block PID 1).
 * Returns 0, or an errno (ENOENT when it does not exist). */
static int read_file(const char *path, struct buf *out) {
  *out = (struct buf){NULL, 0};
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return errno;
  struct stat st;
  int err = 0;
  if (fstat(fd, &st) < 0) err = errno;
  else if (!S_ISREG(st.st_mode)) err = EINVAL;
  else if ((uint64_t)st.st_size > MAX_STORE_FILE) err = EFBIG;
  size_t cap = err ? 0 : (size_t)st.st_size + 1;
  char *p = err ? NULL : malloc(cap);
  if (!err && p == NULL) err = ENOMEM;
  size_t len = 0;
  while (!err) {
    ssize_t n = read(fd, p + len, cap - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;
    len += (size_t)n;
    if (len == cap - 1) break; /* grown since fstat: what was there is enough */
  }
  close(fd);
  if (err) {
    free(p);
    return err;
  }
  p[len] = '\0';
  *out = (struct buf){p, len};
  return 0;
}

/* Writes all of `parts` with as few writev calls as it takes: on btrfs each write costs
 * tens of microseconds, whatever its size. Returns 0 or an errno. */
static int write_parts(int fd, const struct buf *parts, size_t count) {
  size_t i = 0, off = 0; /* the next byte to write is parts[i].p[off] */
  while (i < count) {
    struct iovec iov[64];
    int n = 0;
    size_t want = 0;
    for (size_t j = i; j < count && n < 64; j++, n++) {
      size_t from = j == i ? off : 0;
      iov[n] = (struct iovec){parts[j].p + from, parts[j].len - from};
      want += parts[j].len - from;
    }
    ssize_t w = writev(fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0 && want > 0) return EIO;
    for (size_t left = (size_t)w; i < count;) {
      size_t rest = parts[i].len - off;
      if (left < rest) {
        off += left;
        break;
      }
      left -= rest;
      off = 0;
      i++;
    }
  }
  return 0;
}

/* Writes `parts` to `path` through a temporary file and a rename, so that a reader sees
 * the old file or the new one, never half of it. */
static int write_file(const char *path, const struct buf *parts, size_t count, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.strata-tmp", path) >= (int)sizeof tmp) return ENAMETOOLONG;
  unlink(tmp);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return errno;
  int err = fchmod(fd, mode) < 0 ? errno : 0; /* the umask does not decide a store's mode */
  if (!err) err = write_parts(fd, parts, count);
  if (close(fd) < 0 && !err) err = errno;
  if (!err && rename(tmp, path) < 0) err = errno;
  if (err) unlink(tmp);
  return err;
}

/* FNV-1a of the last 64 base64 characters of a body, whitespace left out: they encode the
 * end of the certificate's signature, as good as unique, and hashing them instead of the
 * whole body keeps a start's comparisons of two 200 KiB bundles to microseconds. */
static uint64_t cert_key(const char *body, const char *end) {
  uint64_t h = 14695981039346656037ull;
  for (int taken = 0; end > body && taken < 64; end--) {
    if (is_space(end[-1])) continue;
    h = (h ^ (uint8_t)end[-1]) * 1099511628211ull;
    taken++;
  }
  return h;
}

/* Appends every PEM certificate block of buf[0, len) to `out`. */
static bool parse_certs(const char *p, size_t len, struct certs *out) {
  const char *end = p + len;
  for (const char *at = p;;) {
    const char *b = memmem(at, (size_t)(end - at), BEGIN, sizeof BEGIN - 1);
    if (b == NULL) return true;
    const char *body = b + sizeof BEGIN - 1;
    const char *e = memmem(body, (size_t)(end - body), END, sizeof END - 1);
    if (e == NULL || out->n >= MAX_CERTS) return true;
    if (out->n % 64 == 0) {
      struct cert *v = realloc(out->v, (out->n + 64) * sizeof *v);
      if (v == NULL) return false;
      out->v = v;
    }
    at = e + sizeof END - 1;
    out->v[out->n++] = (struct cert){b, (size_t)(at - b), cert_key(body, e)};
  }
}

static bool same_cert(const struct cert *a, const struct cert *b) {
  if (a->key != b->key) return false;
  if (a->len == b->len && memcmp(a->p, b->p, a->len) == 0) return true;
  const char *x = a->p, *xe = a->p + a->len, *y = b->p, *ye = b->p + b->len;
  for (;;) {
    while (x < xe && is_space(*x)) x++;
    while (y < ye && is_space(*y)) y++;
    if (x == xe || y == ye) return x == xe && y == ye;
    if (*x++ != *y++) return false;
  }
}

static bool contains(const struct certs *set, const struct cert *c) {
  for (size_t i = 0; i < set->n; i++)
    if (same_cert(&set->v[i], c)) return true;
  return false;
}

static bool is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool own_name(const char *name) {
  size_t n = strlen(name);
  return strncmp(name, OWN_PREFIX, sizeof OWN_PREFIX - 1) == 0 && n > 4 &&
         strcmp(name + n - 4, ".crt") == 0;
}

/* The certificates of the files this agent keeps in OWN_DIR (their buffers in `bufs`). */
static void read_own(const char *dir, struct certs *out, struct buf *bufs, size_t *nbufs,
                     size_t cap) {
  DIR *d = opendir(dir);
  if (d == NULL) return;
  char path[PATH_MAX];
  for (struct dirent *e; (e = readdir(d)) != NULL && *nbufs < cap;) {
    if (!own_name(e->d_name)) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    struct buf *b = &bufs[*nbufs];
    if (read_file(path, b) != 0) continue;
    (*nbufs)++;
    parse_certs(b->p, b->len, out);
  }
  closedir(d);
}

/* OWN_DIR holds exactly `extra`, one certificate per file. */
static void sync_own(const char *root, const struct certs *extra) {
  char local[PATH_MAX], dir[PATH_MAX], path[PATH_MAX];
  if (snprintf(local, sizeof local, "%s" LOCAL_DIR, root) >= (int)sizeof local ||
      snprintf(dir, sizeof dir, "%s" OWN_DIR, root) >= (int)sizeof dir)
    return;
  /* A folder made just now is empty and nobody else's: no comparing, no temporary files. */
  bool fresh = extra->n > 0 && is_dir(local) && mkdir(dir, 0755) == 0;
  if (extra->n > 0 && !fresh && errno != EEXIST && errno != ENOENT)
    agent_log("trust store: mkdir %s: %s", dir, strerror(errno));
  for (size_t i = 0; i < extra->n; i++) {
    if (snprintf(path, sizeof path, "%s/" OWN_PREFIX "%zu.crt", dir, i) >= (int)sizeof path)
      continue;
    const struct cert *c = &extra->v[i];
    if (fresh) {
      struct buf parts[] = {{(char *)c->p, c->len}, {"\n", 1}};
      int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
      int err = fd < 0 ? errno : fchmod(fd, 0644) < 0 ? errno : write_parts(fd, parts, 2);
      if (fd >= 0 && close(fd) < 0 && !err) err = errno;
      if (err) agent_log("trust store: %s: %s", path, strerror(err));
      continue;
    }
    struct buf old;
    bool same = read_file(path, &old) == 0 && old.len == c->len + 1 &&
                memcmp(old.p, c->p, c->len) == 0 && old.p[c->len] == '\n';
    free(old.p);
    if (same) continue;
    struct buf parts[] = {{(char *)c->p, c->len}, {"\n", 1}};
    int err = write_file(path, parts, 2, 0644);
    if (err && err != ENOENT) agent_log("trust store: %s: %s", path, strerror(err));
  }
  DIR *d = fresh ? NULL : opendir(dir);
  if (d == NULL) return;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (!own_name(e->d_name)) continue;
    unsigned long i = strtoul(e->d_name + sizeof OWN_PREFIX - 1, NULL, 10);
    char canon[64];
    snprintf(canon, sizeof canon, OWN_PREFIX "%lu.crt", i);
    if (i < extra->n && strcmp(canon, e->d_name) == 0) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
  }
  closedir(d);
  if (extra->n == 0) rmdir(dir); /* fails, as it should, if someone else put files there */
}

/* The bundle is its own certificates, then (after MARKER) the host's it lacks. */
static void sync_bundle(const char *root, const struct buf *bundle, bool exists,
                        size_t base_len, const struct certs *block) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s" BUNDLE, root) >= (int)sizeof path) return;
  bool marked = base_len < bundle->len;
  if (block->n == 0 && !marked) return;
  size_t count = 0;
  struct buf *parts = malloc((4 + 2 * block->n) * sizeof *parts);
  if (parts == NULL) return;
  bool append = exists && !marked;
  if (!append) parts[count++] = (struct buf){bundle->p, base_len};
  if (block->n > 0) {
    if (base_len > 0 && bundle->p[base_len - 1] != '\n') parts[count++] = (struct buf){"\n", 1};
    parts[count++] = (struct buf){MARKER, sizeof MARKER - 1};
    for (size_t i = 0; i < block->n; i++) {
      parts[count++] = (struct buf){(char *)block->v[i].p, block->v[i].len};
      parts[count++] = (struct buf){"\n", 1};
    }
  }
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += parts[i].len;
  int err = 0;
  if (append) {
    /* Nothing else runs in the sandbox yet: appending is as safe as a rename here, and
     * leaves the image's (shared, copy-on-write) data where it is. */
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    err = fd < 0 ? errno : write_parts(fd, parts, count);
    if (fd >= 0) close(fd);
  } else {
    bool same = exists && total == bundle->len;
    for (size_t i = 0, off = 0; same && i < count; off += parts[i].len, i++)
      same = memcmp(bundle->p + off, parts[i].p, parts[i].len) == 0;
    /* Nothing of the image's own: the agent made this file, and takes it away again. */
    if (!same && total == 0) err = unlink(path) < 0 ? errno : 0;
    else if (!same) err = write_file(path, parts, count, 0644);
  }
  if (err) agent_log("trust store: %s: %s", path, strerror(err));
  free(parts);
}

/* Whether an earlier start may have added certificates: they always come with OWN_DIR,
 * unless the image has no LOCAL_DIR. Saves reading the bundle when there is nothing to do. */
static bool installed(const char *root) {
  char local[PATH_MAX], own[PATH_MAX];
  if (snprintf(local, sizeof local, "%s" LOCAL_DIR, root) >= (int)sizeof local ||
      snprintf(own, sizeof own, "%s" OWN_DIR, root) >= (int)sizeof own)
    return true;
  return is_dir(own) || !is_dir(local);
}

/* MARKER, then each certificate and a newline: what a start appends to the bundle. */
static size_t block_parts(const struct certs *certs, struct buf *parts) {
  size_t n = 0;
  parts[n++] = (struct buf){MARKER, sizeof MARKER - 1};
  for (size_t i = 0; i < certs->n; i++) {
    parts[n++] = (struct buf){(char *)certs->v[i].p, certs->v[i].len};
    parts[n++] = (struct buf){"\n", 1};
  }
  return n;
}

/* Reads only the end of the bundle: 1 when it ends with `parts` (starting a line), 0 when
 * it does not (`*newline`: whether its last byte is one), -1 when it cannot tell. */
static int bundle_ends_with(const char *path, const struct buf *parts, size_t count,
                            bool *newline) {
  size_t want = 0;
  for (size_t i = 0; i < count; i++) want += parts[i].len;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st;
  int state = -1;
  char *tail = NULL;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_STORE_FILE)
    goto done;
  size_t size = (size_t)st.st_size, take = size < want + 1 ? size : want + 1;
  tail = malloc(take + 1);
  if (tail == NULL || pread(fd, tail, take, (off_t)(size - take)) != (ssize_t)take) goto done;
  *newline = take == 0 || tail[take - 1] == '\n';
  state = 0;
  if (size < want || (size > want && tail[0] != '\n')) goto done;
  const char *at = tail + (take - want);
  state = 1;
  for (size_t i = 0; i < count && state == 1; at += parts[i].len, i++)
    if (memcmp(at, parts[i].p, parts[i].len) != 0) state = 0;
done:
  free(tail);
  close(fd);
  return state;
}

/* The two usual starts, without reading the image's bundle (a few hundred KiB, not in the
 * page cache yet in a new clone): a store this start already completed, and a clone of an
 * image no start has touched (no OWN_DIR yet), whose bundle gets the host's certificates
 * appended. Returns false when the full comparison (trust_install) must decide. */
static bool quick_install(const char *root, const char *bundle, const struct certs *hosts) {
  char local[PATH_MAX], own[PATH_MAX];
  if (snprintf(local, sizeof local, "%s" LOCAL_DIR, root) >= (int)sizeof local ||
      snprintf(own, sizeof own, "%s" OWN_DIR, root) >= (int)sizeof own)
    return false;
  struct certs unique = {malloc(hosts->n * sizeof *unique.v), 0};
  struct buf *parts = malloc((2 + 2 * hosts->n) * sizeof *parts);
  bool done = false;
  if (unique.v == NULL || parts == NULL) goto out;
  for (size_t i = 0; i < hosts->n; i++)
    if (!contains(&unique, &hosts->v[i])) unique.v[unique.n++] = hosts->v[i];
  size_t count = block_parts(&unique, parts + 1);
  bool newline = true;
  int state = bundle_ends_with(bundle, parts + 1, count, &newline);
  if (state == 0 && !is_dir(own) && is_dir(local)) {
    parts[0] = (struct buf){"\n", newline ? 0 : 1};
    int fd = open(bundle, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    int err = fd < 0 ? errno : write_parts(fd, parts, count + 1);
    if (fd >= 0) close(fd);
    if (err) agent_log("trust store: %s: %s", bundle, strerror(err));
    state = err ? -1 : 1;
  }
  if (state == 1) {
    sync_own(root, &unique);
    done = true;
  }
out:
  free(unique.v);
  free(parts);
  return done;
}

void trust_install(const char *root, const char *host_file) {
  struct buf host = {NULL, 0}, bundle = {NULL, 0};
  struct buf own_bufs[MAX_CERTS / 16];
  size_t nown = 0;
  struct certs hosts = {0}, base = {0}, own = {0}, extra = {0}, block = {0};
  char path[PATH_MAX];

  if (strlen(root) > PATH_MAX / 2) return;
  if (host_file[0] != '\0') {
    int err = read_file(host_file, &host);
    if (err) {
      /* Keep what an earlier start installed rather than take trust away by accident. */
      agent_log("trust store: cannot read %s: %s", host_file, strerror(err));
      return;
    }
    if (!parse_certs(host.p, host.len, &hosts)) goto out;
  }
  if (hosts.n == 0 && !installed(root)) goto out; /* the usual start without host CAs */
  if (snprintf(path, sizeof path, "%s" BUNDLE_DIR, root) >= (int)sizeof path) goto out;
  bool store = is_dir(path);
  if (snprintf(path, sizeof path, "%s" BUNDLE, root) >= (int)sizeof path) goto out;
  if (store && hosts.n > 0 && quick_install(root, path, &hosts)) goto out;
  int berr = store ? read_file(path, &bundle) : ENOENT;
  if (berr && berr != ENOENT) {
    agent_log("trust store: cannot read %s: %s", path, strerror(berr));
    goto out;
  }
  /* The marker starts a line: at the start of the file or after a newline. */
  size_t base_len = bundle.len;
  if (bundle.len >= sizeof MARKER - 1 && memcmp(bundle.p, MARKER, sizeof MARKER - 1) == 0)
    base_len = 0;
  else if (bundle.p != NULL) {
    const char *m = memmem(bundle.p, bundle.len, "\n" MARKER, sizeof MARKER);
    if (m != NULL) base_len = (size_t)(m - bundle.p) + 1;
  }
  if (hosts.n > 0 && base_len > 0 && !parse_certs(bundle.p, base_len, &base)) goto out;
  if (snprintf(path, sizeof path, "%s" OWN_DIR, root) >= (int)sizeof path) goto out;
  read_own(path, &own, own_bufs, &nown, sizeof own_bufs / sizeof own_bufs[0]);

  /* A certificate of the bundle's own part that is also one of ours came from our files
   * (update-ca-certificates rebuilt the bundle): it is still the host's, not the image's. */
  extra.v = malloc((hosts.n + 1) * sizeof *extra.v);
  block.v = malloc((hosts.n + 1) * sizeof *block.v);
  if (extra.v == NULL || block.v == NULL) goto out;
  for (size_t i = 0; i < hosts.n; i++) {
    const struct cert *c = &hosts.v[i];
    bool in_base = contains(&base, c);
    if (in_base && !contains(&own, c)) continue;
    if (contains(&extra, c)) continue;
    extra.v[extra.n++] = *c;
    if (!in_base) block.v[block.n++] = *c;
  }
  if (store) sync_bundle(root, &bundle, berr == 0, base_len, &block);
  sync_own(root, &extra);

out:
  free(hosts.v);
  free(base.v);
  free(own.v);
  free(extra.v);
  free(block.v);
  for (size_t i = 0; i < nown; i++) free(own_bufs[i].p);
  free(host.p);
  free(bundle.p);
}
