#include "CSQLiteExtras.h"
#include <sqlite3.h>

int p2pdb_harden_connection(struct sqlite3 *db) {
    int rc;
    // Ordinary SQL must not be able to corrupt the file deliberately
    // (writable_schema, journal_mode=OFF, schema_version writes, ...).
    rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)0);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)0);
    if (rc != SQLITE_OK) return rc;
    // A replica is one file: attaching another would let SQL escape replication.
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    // No value larger than an entry may be: zeroblob(1e9) fails at once
    // instead of taking a gigabyte.
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 128 << 20);
    return p2pdb_guard_printf(db);
}

int p2pdb_db_config_int(struct sqlite3 *db, int option, int value, int *result) {
    return sqlite3_db_config(db, option, value, result);
}
