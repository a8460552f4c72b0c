/*
 * store_sqlite_wal.c: a thin VFS over SQLite's default one that writes each
 * commit's WAL frames in a few large writes instead of two per page.
 *
 * SQLite appends a frame as a 24-byte header and then the page, each its own
 * pwrite(), and as the frames are 24 bytes off page alignment each page
 * write spans two kernel pages: at full ingest that was a third of the
 * server's CPU. Here the appends of an unbroken run are gathered in a
 * buffer and written when the page of a commit frame (the one whose header
 * gives the database size) has been added, when the buffer is full, or
 * before any other operation on the file. So every commit is in the file,
 * as before, when SQLite goes on to publish it in the WAL index, and so
 * before COMMIT returns: kill -9 loses nothing that was acknowledged, and
 * fsyncs (sync=full, checkpoints) see everything written.
 *
 * Only the WAL is wrapped; the database file and the rest are the default
 * VFS's own.
 */
#include "store_sqlite.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The default VFS writes at most 128 KiB a call (it masks the length). */
#define WAL_BUF (64 * 1024)
#define WAL_FRAME_HDR 24

typedef struct walfile {
    sqlite3_file base;
    sqlite3_file *real;          /* the default VFS's file, just after this */
    unsigned char *buf;          /* WAL_BUF bytes, made at the first write */
    sqlite3_int64 start;         /* file offset of buf[0] */
    sqlite3_int64 next;          /* offset that continues the run; -1: none */
    int len;                     /* bytes waiting in buf */
    int commit;                  /* the header just added is a commit frame's */
} walfile;

static sqlite3_vfs *base_vfs;
static sqlite3_vfs wal_vfs;

static int wal_flush(walfile *f)
{
    int rc = f->len ? f->real->pMethods->xWrite(f->real, f->buf, f->len, f->start)
                    : SQLITE_OK;
    f->len = 0;
    return rc;
}

/* Before anything but an appending write: the file must hold what SQLite
 * wrote, and the run is broken. */
static int wal_settle(walfile *f)
{
    f->next = -1;
    f->commit = 0;
    return wal_flush(f);
}

static int wal_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
    walfile *f = (walfile *)file;
    if (off != f->next || (!f->buf && !(f->buf = malloc(WAL_BUF)))) {
        /* Not an append (a WAL restart, a frame rewritten in place): as is. */
        int rc = wal_flush(f);
        f->next = off + amt;
        f->commit = 0;
        return rc ? rc : f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    f->next = off + amt;
    if (f->len + amt > WAL_BUF) {
        int rc = wal_flush(f);
        if (rc || amt > WAL_BUF)
            return rc ? rc : f->real->pMethods->xWrite(f->real, data, amt, off);
    }
    if (!f->len)
        f->start = off;
    memcpy(f->buf + f->len, data, (size_t)amt);
    f->len += amt;
    if (amt == WAL_FRAME_HDR) {
        const unsigned char *h = data;
        f->commit = (h[4] | h[5] | h[6] | h[7]) != 0;
        return SQLITE_OK;
    }
    if (!f->commit)
        return SQLITE_OK;
    f->commit = 0;
    return wal_flush(f);
}

static int wal_close(sqlite3_file *file)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    int rc2 = f->real->pMethods->xClose(f->real);
    free(f->buf);
    return rc ? rc : rc2;
}

static int wal_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    return rc ? rc : f->real->pMethods->xRead(f->real, data, amt, off);
}

static int wal_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    return rc ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int wal_sync(sqlite3_file *file, int flags)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    return rc ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int wal_size(sqlite3_file *file, sqlite3_int64 *size)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    return rc ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int wal_lock(sqlite3_file *file, int level)
{
    walfile *f = (walfile *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int wal_unlock(sqlite3_file *file, int level)
{
    walfile *f = (walfile *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int wal_reserved(sqlite3_file *file, int *out)
{
    walfile *f = (walfile *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int wal_control(sqlite3_file *file, int op, void *arg)
{
    walfile *f = (walfile *)file;
    int rc = wal_settle(f);
    return rc ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

static int wal_sector(sqlite3_file *file)
{
    walfile *f = (walfile *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int wal_device(sqlite3_file *file)
{
    walfile *f = (walfile *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

/* Version 1: SQLite uses no shared memory, locks or mmap on a WAL file. */
static const sqlite3_io_methods wal_methods = {
    1, wal_close, wal_read, wal_write, wal_truncate, wal_sync, wal_size, wal_lock,
    wal_unlock, wal_reserved, wal_control, wal_sector, wal_device,
    NULL, NULL, NULL, NULL, NULL, NULL,
};

static int wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                    int *out_flags)
{
    (void)vfs;
    if (!(flags & SQLITE_OPEN_WAL))
        return base_vfs->xOpen(base_vfs, name, file, flags, out_flags);
    walfile *f = (walfile *)file;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    f->next = -1;
    int rc = base_vfs->xOpen(base_vfs, name, f->real, flags, out_flags);
    /* No methods after a failed open, so SQLite does not close it. */
    f->base.pMethods = rc == SQLITE_OK ? &wal_methods : NULL;
    return rc;
}

static void wal_register(void)
{
    if (!(base_vfs = sqlite3_vfs_find(NULL)))
        return;
    wal_vfs = *base_vfs;
    wal_vfs.pNext = NULL;
    wal_vfs.zName = "anpr-wal";
    /* The wrapped file follows ours, as aligned as a walfile is. */
    wal_vfs.szOsFile = (int)sizeof(walfile) + base_vfs->szOsFile;
    wal_vfs.xOpen = wal_open;
    if (sqlite3_vfs_register(&wal_vfs, 0) != SQLITE_OK)
        base_vfs = NULL;
}

const char *sq_wal_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, wal_register);
    return base_vfs ? wal_vfs.zName : NULL;
}
