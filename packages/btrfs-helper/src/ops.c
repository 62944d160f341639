/*
 * The ops of strata-btrfs (see main.c for the protocol): each turns one request into
 * btrfs ioctls and returns 0 or an errno, naming the failed step in `*what` and putting
 * what it answers besides ok in `r->value`.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ops.h"

/* BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA (Linux 6.7); older uapi headers lack it. */
#define QUOTA_CTL_ENABLE_SIMPLE 4

/* Splits "dir/name" into an O_DIRECTORY fd of dir and name; -errno on failure. */
static int open_parent(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) > BTRFS_SUBVOL_NAME_MAX)
    return -EINVAL;
  *name = slash + 1;
  char dir[PATH_MAX];
  size_t len = slash == path ? 1 : (size_t)(slash - path);
  if (len >= sizeof dir) return -ENAMETOOLONG;
  memcpy(dir, path, len);
  dir[len] = '\0';
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static int parse_u64(const char *s, uint64_t *v) {
  if (*s < '0' || *s > '9') return EINVAL;
  errno = 0;
  char *end;
  unsigned long long x = strtoull(s, &end, 10);
  if (errno || *end) return EINVAL;
  *v = x;
  return 0;
}

/*
 * The figures of the level-0 qgroup of the subvolume `fd` is in, as of the last transaction
 * commit: referenced and exclusive bytes (under simple quotas both are what the subvolume
 * wrote itself). 0 and 0 when quotas are off or the qgroup has no item yet (a subvolume
 * made since the last commit).
 */
static void qgroup_figures(int fd, uint64_t *rfer, uint64_t *excl) {
  *rfer = *excl = 0;
  struct btrfs_ioctl_get_subvol_info_args info;
  if (ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO, &info) < 0) return;
  struct btrfs_ioctl_search_args s;
  memset(&s, 0, sizeof s);
  s.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
  s.key.min_type = s.key.max_type = BTRFS_QGROUP_INFO_KEY;
  s.key.min_offset = s.key.max_offset = info.treeid; /* qgroup 0/<subvolume id> */
  s.key.max_objectid = 0;
  s.key.max_transid = (uint64_t)-1;
  s.key.nr_items = 1;
  if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &s) < 0 || s.key.nr_items < 1) return;
  struct btrfs_ioctl_search_header h;
  memcpy(&h, s.buf, sizeof h);
  struct btrfs_qgroup_info_item item;
  if (h.type != BTRFS_QGROUP_INFO_KEY || h.len < sizeof item) return;
  memcpy(&item, s.buf + sizeof h, sizeof item);
  *rfer = le64toh(item.rfer);
  *excl = le64toh(item.excl);
}

/*
 * snap <source> <dest> <readonly 0|1>: answers "<source rfer> <dest rfer> <dest excl>", the
 * qgroup figures (see qgroup_figures) of both once the snapshot is committed. Under simple
 * quotas a snapshot's qgroup starts near zero, so the driver adds what the source counted
 * to what the source inherited; a read-only snapshot's figures never change afterwards.
 */
static int op_snap(struct request *r, const char **what) {
  *what = "snapshot";
  if (r->nargs != 3) return EINVAL;
  int src = open(r->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (src < 0) return errno;
  const char *name;
  int dir = open_parent(r->args[1], &name);
  if (dir < 0) {
    close(src);
    return -dir;
  }
  struct btrfs_ioctl_vol_args_v2 a;
  memset(&a, 0, sizeof a);
  a.fd = src;
  a.flags = strcmp(r->args[2], "1") == 0 ? BTRFS_SUBVOL_RDONLY : 0;
  strcpy(a.name, name);
  int e = ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &a) < 0 ? errno : 0;
  if (!e) {
    uint64_t src_rfer, src_excl, dest_rfer = 0, dest_excl = 0;
    qgroup_figures(src, &src_rfer, &src_excl);
    int dest = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dest >= 0) {
      qgroup_figures(dest, &dest_rfer, &dest_excl);
      close(dest);
    }
    snprintf(r->value, sizeof r->value, "%llu %llu %llu", (unsigned long long)src_rfer,
             (unsigned long long)dest_rfer, (unsigned long long)dest_excl);
  }
  close(src);
  close(dir);
  return e;
}

/* One ioctl on the parent folder of `path`, naming its last component. */
static int named_ioctl(const char *path, unsigned long request) {
  const char *name;
  int dir = open_parent(path, &name);
  if (dir < 0) return -dir;
  struct btrfs_ioctl_vol_args_v2 a;
  memset(&a, 0, sizeof a);
  strcpy(a.name, name);
  int e = ioctl(dir, request, &a) < 0 ? errno : 0;
  close(dir);
  return e;
}

/* subvol <path> */
static int op_subvol(struct request *r, const char **what) {
  *what = "subvolume create";
  if (r->nargs != 1) return EINVAL;
  return named_ioctl(r->args[0], BTRFS_IOC_SUBVOL_CREATE_V2);
}

/* destroy <path>: deletes a subvolume without waiting for a transaction commit. */
static int op_destroy(struct request *r, const char **what) {
  *what = "subvolume delete";
  if (r->nargs != 1) return EINVAL;
  return named_ioctl(r->args[0], BTRFS_IOC_SNAP_DESTROY_V2);
}

/* limit <path> <bytes|none>: the referenced-bytes limit of the subvolume's qgroup. */
static int op_limit(struct request *r, const char **what) {
  *what = "qgroup limit";
  if (r->nargs != 2) return EINVAL;
  struct btrfs_ioctl_qgroup_limit_args a;
  memset(&a, 0, sizeof a);
  a.qgroupid = 0; /* the qgroup of the subvolume the fd is in */
  a.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
  if (strcmp(r->args[1], "none") == 0) a.lim.max_rfer = (uint64_t)-1;
  else if (parse_u64(r->args[1], (uint64_t *)&a.lim.max_rfer)) return EINVAL;
  int fd = open(r->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &a) < 0 ? errno : 0;
  close(fd);
  return e;
}

/* readonly <path> <0|1>: sets or clears a subvolume's read-only flag. */
static int op_readonly(struct request *r, const char **what) {
  *what = "set read-only";
  if (r->nargs != 2) return EINVAL;
  int fd = open(r->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  uint64_t flags;
  int e = ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags) < 0 ? errno : 0;
  if (!e) {
    if (strcmp(r->args[1], "1") == 0) flags |= BTRFS_SUBVOL_RDONLY;
    else flags &= ~(uint64_t)BTRFS_SUBVOL_RDONLY;
    e = ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags) < 0 ? errno : 0;
  }
  close(fd);
  return e;
}

/*
 * usage <path>...: the qgroup figures of each path's subvolume (see qgroup_figures), as
 * "<rfer>:<excl>" per path, separated by spaces, in the order asked; "-" for a path that
 * does not exist. Reads the quota tree only: no transaction is committed.
 */
static int op_usage(struct request *r, const char **what) {
  *what = "qgroup usage";
  if (r->nargs < 1) return EINVAL;
  size_t len = 0;
  for (int i = 0; i < r->nargs; i++) {
    char *out = r->value + len;
    size_t room = sizeof r->value - len;
    const char *sep = i == 0 ? "" : " ";
    int fd = open(r->args[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int n;
    if (fd < 0) {
      if (errno != ENOENT) return errno;
      n = snprintf(out, room, "%s-", sep);
    } else {
      uint64_t rfer, excl;
      qgroup_figures(fd, &rfer, &excl);
      close(fd);
      n = snprintf(out, room, "%s%llu:%llu", sep, (unsigned long long)rfer,
                   (unsigned long long)excl);
    }
    if (n < 0 || (size_t)n >= room) return E2BIG;
    len += (size_t)n;
  }
  return 0;
}

/* sync <path>: commits the filesystem's transaction (qgroup numbers are updated then). */
static int op_sync(struct request *r, const char **what) {
  *what = "sync";
  if (r->nargs != 1) return EINVAL;
  int fd = open(r->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = ioctl(fd, BTRFS_IOC_SYNC, NULL) < 0 ? errno : 0;
  close(fd);
  return e;
}

/*
 * quota <path> <simple|full>: turns quotas on in that mode (nothing changes when they are
 * on already, in either mode) and answers the mode in force, as the kernel names it in
 * /sys/fs/btrfs/<fsid>/qgroups/mode: "squota" or "qgroup". A kernel without simple quotas
 * (before 6.7) answers EINVAL to "simple".
 */
static int op_quota(struct request *r, const char **what) {
  *what = "quota enable";
  if (r->nargs != 2) return EINVAL;
  bool simple = strcmp(r->args[1], "simple") == 0;
  if (!simple && strcmp(r->args[1], "full") != 0) return EINVAL;
  int fd = open(r->args[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct btrfs_ioctl_quota_ctl_args q;
  memset(&q, 0, sizeof q);
  q.cmd = simple ? QUOTA_CTL_ENABLE_SIMPLE : BTRFS_QUOTA_CTL_ENABLE;
  struct btrfs_ioctl_fs_info_args fs;
  memset(&fs, 0, sizeof fs);
  int e = ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q) < 0 ? errno : 0;
  if (!e) e = ioctl(fd, BTRFS_IOC_FS_INFO, &fs) < 0 ? errno : 0;
  close(fd);
  if (e) return e;
  *what = "read the quota mode";
  char path[128];
  int n = snprintf(path, sizeof path, "/sys/fs/btrfs/");
  for (int i = 0; i < BTRFS_FSID_SIZE; i++) {
    n += snprintf(path + n, sizeof path - (size_t)n, "%02x", fs.fsid[i]);
    if (i == 3 || i == 5 || i == 7 || i == 9) path[n++] = '-';
  }
  snprintf(path + n, sizeof path - (size_t)n, "/qgroups/mode");
  int m = open(path, O_RDONLY | O_CLOEXEC);
  if (m < 0) {
    /* Kernels before 6.7 have no mode file and only one mode. */
    if (errno != ENOENT) return errno;
    snprintf(r->value, sizeof r->value, "qgroup");
    return 0;
  }
  ssize_t len = read(m, r->value, sizeof r->value - 1);
  e = len < 0 ? errno : 0;
  close(m);
  if (e) return e;
  r->value[len] = '\0';
  r->value[strcspn(r->value, "\n\t")] = '\0';
  return 0;
}

static const struct {
  const char *name;
  int (*run)(struct request *, const char **);
} OPS[] = {
    {"snap", op_snap},     {"subvol", op_subvol},     {"destroy", op_destroy},
    {"limit", op_limit},   {"readonly", op_readonly}, {"sync", op_sync},
    {"quota", op_quota},   {"usage", op_usage},
};

int run_op(struct request *r, const char **what) {
  *what = r->op;
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++) {
    if (strcmp(OPS[i].name, r->op) == 0) return OPS[i].run(r, what);
  }
  return ENOSYS;
}

