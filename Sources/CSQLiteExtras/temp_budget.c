// A VFS shim that bounds the temporary disk one client request may use.
//
// SQLite writes sorts, transient indexes and materialised subqueries that
// outgrow the page cache to temporary files, without any limit of its own.
// This shim wraps the default VFS: while a thread runs a request under a
// budget (p2pdb_temp_budget_begin), every temporary file SQLite opens on
// that thread is charged to the budget for each byte it grows, and a write
// past the budget fails with SQLITE_FULL, which ends the statement. Files
// of the database itself, its WAL and journals are opened by the wrapped
// VFS directly and never pass through the shim.
#include "CSQLiteExtras.h"
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct p2pdb_temp_budget {
    sqlite3_int64 limit;
    _Atomic sqlite3_int64 used;
    _Atomic int references;
    _Atomic int exhausted;
};

static _Thread_local struct p2pdb_temp_budget *current_budget = NULL;
static sqlite3_vfs *wrapped_vfs = NULL;
static sqlite3_vfs budget_vfs;

typedef struct {
    sqlite3_file base;
    struct p2pdb_temp_budget *budget;
    sqlite3_int64 size;
    sqlite3_file *real;
} budget_file;

static void budget_release(struct p2pdb_temp_budget *budget) {
    if (atomic_fetch_sub(&budget->references, 1) == 1) free(budget);
}

static int file_close(sqlite3_file *file) {
    budget_file *f = (budget_file *)file;
    int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    atomic_fetch_sub(&f->budget->used, f->size);
    budget_release(f->budget);
    return rc;
}

static int file_read(sqlite3_file *file, void *buffer, int amount, sqlite3_int64 offset) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xRead(f->real, buffer, amount, offset);
}

static int file_write(sqlite3_file *file, const void *buffer, int amount, sqlite3_int64 offset) {
    budget_file *f = (budget_file *)file;
    sqlite3_int64 end = offset + amount;
    if (end > f->size) {
        sqlite3_int64 growth = end - f->size;
        sqlite3_int64 used = atomic_fetch_add(&f->budget->used, growth) + growth;
        if (used > f->budget->limit) {
            atomic_fetch_sub(&f->budget->used, growth);
            atomic_store(&f->budget->exhausted, 1);
            return SQLITE_FULL;
        }
        int rc = f->real->pMethods->xWrite(f->real, buffer, amount, offset);
        if (rc != SQLITE_OK) {
            atomic_fetch_sub(&f->budget->used, growth);
            return rc;
        }
        f->size = end;
        return rc;
    }
    return f->real->pMethods->xWrite(f->real, buffer, amount, offset);
}

static int file_truncate(sqlite3_file *file, sqlite3_int64 size) {
    budget_file *f = (budget_file *)file;
    int rc = f->real->pMethods->xTruncate(f->real, size);
    if (rc == SQLITE_OK && size < f->size) {
        atomic_fetch_sub(&f->budget->used, f->size - size);
        f->size = size;
    }
    return rc;
}

static int file_sync(sqlite3_file *file, int flags) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xSync(f->real, flags);
}

static int file_size(sqlite3_file *file, sqlite3_int64 *size) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int file_lock(sqlite3_file *file, int level) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xLock(f->real, level);
}

static int file_unlock(sqlite3_file *file, int level) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xUnlock(f->real, level);
}

static int file_check_reserved_lock(sqlite3_file *file, int *result) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, result);
}

static int file_control(sqlite3_file *file, int op, void *argument) {
    budget_file *f = (budget_file *)file;
    // A size hint may extend the file without a write: not for temp files.
    if (op == SQLITE_FCNTL_SIZE_HINT || op == SQLITE_FCNTL_CHUNK_SIZE) return SQLITE_NOTFOUND;
    return f->real->pMethods->xFileControl(f->real, op, argument);
}

static int file_sector_size(sqlite3_file *file) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int file_device_characteristics(sqlite3_file *file) {
    budget_file *f = (budget_file *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

// Version 1: temporary files need no shared memory or memory mapping.
static const sqlite3_io_methods budget_io_methods = {
    1,
    file_close,
    file_read,
    file_write,
    file_truncate,
    file_sync,
    file_size,
    file_lock,
    file_unlock,
    file_check_reserved_lock,
    file_control,
    file_sector_size,
    file_device_characteristics,
    0, 0, 0, 0, 0, 0,
};

static int is_temporary(const char *name, int flags) {
    return name == NULL || (flags & (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_TRANSIENT_DB
                                     | SQLITE_OPEN_SUBJOURNAL | SQLITE_OPEN_DELETEONCLOSE)) != 0;
}

static int vfs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *outFlags) {
    (void)vfs;
    struct p2pdb_temp_budget *budget = current_budget;
    if (budget == NULL || !is_temporary(name, flags)) {
        return wrapped_vfs->xOpen(wrapped_vfs, name, file, flags, outFlags);
    }
    budget_file *f = (budget_file *)file;
    memset(f, 0, sizeof(budget_file));
    f->real = (sqlite3_file *)&f[1];
    int rc = wrapped_vfs->xOpen(wrapped_vfs, name, f->real, flags, outFlags);
    if (rc != SQLITE_OK) {
        if (f->real->pMethods) f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return rc;
    }
    atomic_fetch_add(&budget->references, 1);
    f->budget = budget;
    f->base.pMethods = &budget_io_methods;
    return SQLITE_OK;
}

// Everything but opening files is the wrapped VFS's.
static int vfs_delete(sqlite3_vfs *vfs, const char *name, int syncDirectory) {
    (void)vfs;
    return wrapped_vfs->xDelete(wrapped_vfs, name, syncDirectory);
}
static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
    (void)vfs;
    return wrapped_vfs->xAccess(wrapped_vfs, name, flags, result);
}
static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out) {
    (void)vfs;
    return wrapped_vfs->xFullPathname(wrapped_vfs, name, size, out);
}
static void *vfs_dl_open(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return wrapped_vfs->xDlOpen(wrapped_vfs, name);
}
static void vfs_dl_error(sqlite3_vfs *vfs, int size, char *message) {
    (void)vfs;
    wrapped_vfs->xDlError(wrapped_vfs, size, message);
}
static void (*vfs_dl_sym(sqlite3_vfs *vfs, void *handle, const char *symbol))(void) {
    (void)vfs;
    return wrapped_vfs->xDlSym(wrapped_vfs, handle, symbol);
}
static void vfs_dl_close(sqlite3_vfs *vfs, void *handle) {
    (void)vfs;
    wrapped_vfs->xDlClose(wrapped_vfs, handle);
}
static int vfs_randomness(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return wrapped_vfs->xRandomness(wrapped_vfs, size, out);
}
static int vfs_sleep(sqlite3_vfs *vfs, int microseconds) {
    (void)vfs;
    return wrapped_vfs->xSleep(wrapped_vfs, microseconds);
}
static int vfs_current_time(sqlite3_vfs *vfs, double *now) {
    (void)vfs;
    return wrapped_vfs->xCurrentTime(wrapped_vfs, now);
}
static int vfs_get_last_error(sqlite3_vfs *vfs, int size, char *out) {
    (void)vfs;
    return wrapped_vfs->xGetLastError ? wrapped_vfs->xGetLastError(wrapped_vfs, size, out) : 0;
}
static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *now) {
    (void)vfs;
    return wrapped_vfs->xCurrentTimeInt64(wrapped_vfs, now);
}
static int vfs_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr call) {
    (void)vfs;
    return wrapped_vfs->xSetSystemCall(wrapped_vfs, name, call);
}
static sqlite3_syscall_ptr vfs_get_system_call(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return wrapped_vfs->xGetSystemCall(wrapped_vfs, name);
}
static const char *vfs_next_system_call(sqlite3_vfs *vfs, const char *name) {
    (void)vfs;
    return wrapped_vfs->xNextSystemCall(wrapped_vfs, name);
}

int p2pdb_temp_budget_install(void) {
    static _Atomic int installed = 0;
    if (atomic_exchange(&installed, 1)) return SQLITE_OK;
    int rc = sqlite3_initialize();
    if (rc != SQLITE_OK) return rc;
    wrapped_vfs = sqlite3_vfs_find(NULL);
    if (wrapped_vfs == NULL || wrapped_vfs->iVersion < 3) return SQLITE_ERROR;
    budget_vfs = (sqlite3_vfs){
        3,
        (int)sizeof(budget_file) + wrapped_vfs->szOsFile,
        wrapped_vfs->mxPathname,
        NULL,
        "p2pdb-temp-budget",
        NULL,
        vfs_open,
        vfs_delete,
        vfs_access,
        vfs_full_pathname,
        vfs_dl_open,
        vfs_dl_error,
        vfs_dl_sym,
        vfs_dl_close,
        vfs_randomness,
        vfs_sleep,
        vfs_current_time,
        vfs_get_last_error,
        vfs_current_time_int64,
        vfs_set_system_call,
        vfs_get_system_call,
        vfs_next_system_call,
    };
    // The default from now on, so that every connection opened after this
    // (GRDB opens them with the default VFS) can charge its temporary files.
    return sqlite3_vfs_register(&budget_vfs, 1);
}

struct p2pdb_temp_budget *p2pdb_temp_budget_begin(long long limit) {
    struct p2pdb_temp_budget *budget = calloc(1, sizeof(struct p2pdb_temp_budget));
    if (budget == NULL) return NULL;
    budget->limit = limit;
    atomic_store(&budget->references, 1);
    current_budget = budget;
    return budget;
}

int p2pdb_temp_budget_end(struct p2pdb_temp_budget *budget) {
    if (budget == NULL) return 0;
    if (current_budget == budget) current_budget = NULL;
    int exhausted = atomic_load(&budget->exhausted);
    budget_release(budget);
    return exhausted;
}

long long p2pdb_temp_budget_used(struct p2pdb_temp_budget *budget) {
    return budget == NULL ? 0 : atomic_load(&budget->used);
}
