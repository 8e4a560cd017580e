#ifndef CSQLITEEXTRAS_H
#define CSQLITEEXTRAS_H

// Declarations the system <sqlite3.h> compiles out unless the including code
// defines SQLITE_ENABLE_PREUPDATE_HOOK. Debian's libsqlite3 is built with the
// pre-update hook, so the symbols exist; only the prototypes are missing.

struct sqlite3;
struct sqlite3_value;

typedef void (*p2pdb_preupdate_callback)(
    void *context,
    struct sqlite3 *db,
    int operation,
    char const *databaseName,
    char const *tableName,
    long long oldRowID,
    long long newRowID);

void *sqlite3_preupdate_hook(struct sqlite3 *db, p2pdb_preupdate_callback callback, void *context);
int sqlite3_preupdate_old(struct sqlite3 *db, int column, struct sqlite3_value **value);
int sqlite3_preupdate_new(struct sqlite3 *db, int column, struct sqlite3_value **value);
int sqlite3_preupdate_count(struct sqlite3 *db);
int sqlite3_preupdate_depth(struct sqlite3 *db);

/// Turns on SQLite's defensive settings on a connection that runs user SQL:
/// no writable_schema, no ATTACH, no extension loading, no untrusted schema
/// functions. Returns an SQLite result code.
int p2pdb_harden_connection(struct sqlite3 *db);

/// Replaces printf() and format() on `db` with versions that answer a
/// character repeated past SQLITE_LIMIT_LENGTH at once (SQLite's would run
/// uninterruptibly for seconds) and are SQLite's own otherwise. Called by
/// p2pdb_harden_connection. Returns an SQLite result code.
int p2pdb_guard_printf(struct sqlite3 *db);

/// sqlite3_db_config for the options that take an int and report the
/// setting (C variadic functions cannot be called from Swift).
int p2pdb_db_config_int(struct sqlite3 *db, int option, int value, int *result);

/// Registers, once per process and as the default VFS, a shim over the
/// default VFS that charges temporary files to the budget of the request
/// running on the opening thread. Returns an SQLite result code.
int p2pdb_temp_budget_install(void);

/// The temporary disk of one request: `limit` bytes.
struct p2pdb_temp_budget;

/// Starts a budget of `limit` bytes for the temporary files SQLite opens on
/// this thread until p2pdb_temp_budget_end; NULL if memory ran out.
struct p2pdb_temp_budget *p2pdb_temp_budget_begin(long long limit);

/// Ends the budget on this thread; 1 if a write was refused for it.
int p2pdb_temp_budget_end(struct p2pdb_temp_budget *budget);

/// Bytes of temporary files charged to the budget and not yet freed.
long long p2pdb_temp_budget_used(struct p2pdb_temp_budget *budget);

#endif
