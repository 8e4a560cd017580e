// printf() and format() that end at once where SQLite's would run for
// seconds without a chance to be interrupted.
//
// SQLite 3.40 writes "%.Nc" (a character repeated N times) one character at
// a time, and keeps counting after the result has outgrown
// SQLITE_LIMIT_LENGTH: printf('%.*c', 2000000000, 'a') runs for about 17 s
// inside one function call, where sqlite3_interrupt cannot reach it, and
// then returns NULL. These overrides answer NULL at once for such a call,
// and hand every other call to SQLite's own printf, on a private in-memory
// connection, so that the result is SQLite's byte for byte.
#include "CSQLiteExtras.h"
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define CACHED_ARITIES 16

typedef struct {
    sqlite3 *companion;
    sqlite3_stmt *statements[CACHED_ARITIES];
    int references;
} printf_guard;

static void guard_release(void *pointer) {
    printf_guard *guard = pointer;
    if (--guard->references > 0) return;
    for (int i = 0; i < CACHED_ARITIES; i++) sqlite3_finalize(guard->statements[i]);
    sqlite3_close(guard->companion);
    free(guard);
}

static sqlite3_int64 int_argument(sqlite3_value **argv, int argc, int *next) {
    if (*next >= argc) return 0;
    return sqlite3_value_int64(argv[(*next)++]);
}

// Whether the format, read as SQLite reads it, repeats a character more
// times than the result may be long.
static int repeats_past(const unsigned char *format, int argc, sqlite3_value **argv, sqlite3_int64 limit) {
    int next = 1;
    for (const unsigned char *c = format; *c; c++) {
        if (*c != '%') continue;
        c++;
        if (*c == 0) return 0;
        if (*c == '%') continue;
        while (*c && strchr("-+ #!0,", *c)) c++;
        if (*c == '*') {
            int_argument(argv, argc, &next);
            c++;
        } else {
            while (*c >= '0' && *c <= '9') c++;
        }
        sqlite3_int64 precision = -1;
        if (*c == '.') {
            c++;
            if (*c == '*') {
                // As SQLite reads it: an int, its magnitude, the most
                // negative int as no precision.
                precision = (int)int_argument(argv, argc, &next);
                if (precision < 0) precision = precision >= -2147483647LL ? -precision : -1;
                c++;
            } else {
                unsigned int digits = 0;
                while (*c >= '0' && *c <= '9') digits = digits * 10 + (unsigned int)(*c++ - '0');
                precision = digits & 0x7fffffff;
            }
        }
        if (*c == 'l') c++;
        if (*c == 'l') c++;
        if (*c == 0) return 0;
        if (*c == 'c') {
            if (precision > limit) return 1;
            next++;
        } else if (strchr("diuxXopfeEgGszqQwr", *c)) {
            next++;
        } else if (*c != 'n') {
            // SQLite stops at a conversion it does not know (and at its
            // internal ones, T and S, in SQL).
            return 0;
        }
    }
    return 0;
}

static void guarded_printf(sqlite3_context *context, int argc, sqlite3_value **argv) {
    printf_guard *guard = sqlite3_user_data(context);
    sqlite3 *db = sqlite3_context_db_handle(context);
    if (argc < 1) {
        sqlite3_result_null(context);
        return;
    }
    const unsigned char *format = sqlite3_value_text(argv[0]);
    if (format == NULL) {
        sqlite3_result_null(context);
        return;
    }
    sqlite3_int64 limit = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, -1);
    if (repeats_past(format, argc, argv, limit)) {
        sqlite3_result_null(context);
        return;
    }
    sqlite3_limit(guard->companion, SQLITE_LIMIT_LENGTH, (int)limit);
    sqlite3_stmt *statement = argc <= CACHED_ARITIES ? guard->statements[argc - 1] : NULL;
    if (statement == NULL) {
        sqlite3_str *sql = sqlite3_str_new(NULL);
        sqlite3_str_appendall(sql, "SELECT printf(?1");
        for (int i = 2; i <= argc; i++) sqlite3_str_appendf(sql, ", ?%d", i);
        sqlite3_str_appendall(sql, ")");
        char *text = sqlite3_str_finish(sql);
        int rc = text ? sqlite3_prepare_v3(guard->companion, text, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) : SQLITE_NOMEM;
        sqlite3_free(text);
        if (rc != SQLITE_OK) {
            sqlite3_result_error_code(context, rc);
            return;
        }
        if (argc <= CACHED_ARITIES) guard->statements[argc - 1] = statement;
    }
    for (int i = 0; i < argc; i++) sqlite3_bind_value(statement, i + 1, argv[i]);
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW) {
        sqlite3_result_value(context, sqlite3_column_value(statement, 0));
    } else {
        sqlite3_result_error_code(context, sqlite3_errcode(guard->companion));
    }
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    if (argc > CACHED_ARITIES) sqlite3_finalize(statement);
}

int p2pdb_guard_printf(struct sqlite3 *db) {
    printf_guard *guard = calloc(1, sizeof(printf_guard));
    if (guard == NULL) return SQLITE_NOMEM;
    int rc = sqlite3_open_v2(":memory:", &guard->companion, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_close(guard->companion);
        free(guard);
        return rc;
    }
    guard->references = 2;
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    rc = sqlite3_create_function_v2(db, "printf", -1, flags, guard, guarded_printf, NULL, NULL, guard_release);
    if (rc != SQLITE_OK) {
        // Registration failed: SQLite has already called guard_release once.
        guard_release(guard);
        return rc;
    }
    rc = sqlite3_create_function_v2(db, "format", -1, flags, guard, guarded_printf, NULL, NULL, guard_release);
    return rc;
}
