/** Linux errno names for the numbers the agent reports in ERROR frames. */

/** Linux x86-64 errno numbers by name, for the values the agent can plausibly report. */
const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  EOVERFLOW: 75,
  EILSEQ: 84,
  EOPNOTSUPP: 95,
  ECONNRESET: 104,
  ETIMEDOUT: 110,
  ESTALE: 116,
  EDQUOT: 122,
  ECANCELED: 125,
};

const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ERRNO).map(([name, n]) => [n, name]),
);

/** "ENOENT" for 2; `E<n>` for a number outside the table. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

export function errnoNumber(name: string): number | undefined {
  return ERRNO[name];
}
