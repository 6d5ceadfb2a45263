/* SPDX-License-Identifier: MIT */
/* The ledger's file on disk: whether its path still names the file this process has open, and
 * writing that file back when it was removed under the running daemon. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "ledger_internal.h"

int sk_ledger_file_check(const struct sk_ledger *l)
{
    struct stat open_st, path_st;
    if (l->lock_fd < 0) {
        return 0; /* not the owner: a reader of someone else's file */
    }
    if (fstat(l->lock_fd, &open_st) < 0) {
        return -errno;
    }
    if (stat(l->path, &path_st) < 0) {
        return errno == ENOENT ? -ENOENT : -errno;
    }
    if (open_st.st_dev != path_st.st_dev || open_st.st_ino != path_st.st_ino) {
        return -ESTALE;
    }
    return 0;
}

int sk_ledger_file_restore(struct sk_ledger *l, char *msg, size_t msg_size)
{
    char tmp[sizeof(l->path) + 16];
    snprintf(tmp, sizeof(tmp), "%s.restoring", l->path);
    unlink(tmp);
    sqlite3 *dst = NULL;
    int rc = sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", l->db, "main") : NULL;
    if (b) {
        rc = sqlite3_backup_step(b, -1);
        int fin = sqlite3_backup_finish(b);
        rc = rc == SQLITE_DONE ? fin : rc;
    } else if (rc == SQLITE_OK) {
        rc = sqlite3_errcode(dst);
    }
    if (rc == SQLITE_OK) {
        /* the copy is complete on disk before it takes the ledger's name */
        rc = sqlite3_exec(dst, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(msg, msg_size, "copying the open ledger to %s: %s", tmp,
                 dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        sqlite3_close(dst);
        unlink(tmp);
        return -EIO;
    }
    sqlite3_close(dst);
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        snprintf(msg, msg_size, "%s: %s", tmp, strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        unlink(tmp);
        return -e;
    }
    close(fd);
    /* link, not rename: a file someone put at the ledger's path meanwhile is not overwritten */
    if (link(tmp, l->path) < 0) {
        int e = errno;
        snprintf(msg, msg_size, "%s: %s (the copy stays at %s)", l->path, strerror(e), tmp);
        return -e;
    }
    unlink(tmp);
    int r = ledger_fsync_dir(l->path);
    if (r < 0) {
        snprintf(msg, msg_size, "%s: syncing its directory: %s", l->path, strerror(-r));
        return r;
    }
    return 0;
}
