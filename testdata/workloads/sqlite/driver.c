/* SQLite workload on an in-memory database: schema, a transaction of
 * prepared inserts, indexes, joins, aggregates, ordering, printf-style SQL
 * functions, a user-defined function and collation written in C, a CTE,
 * window functions and constraint errors. Prints results deterministically.
 * Usage: driver [ROWS]  (default 2000). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

static sqlite3 *db;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    exit(2);
}

static void exec(const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "exec failed: %s\n  in: %s\n", err ? err : "?", sql);
        sqlite3_free(err);
        exit(2);
    }
}

/* Prints every row of a query as "a | b | c" lines under a title. */
static void query(const char *title, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(title);
    printf("-- %s\n", title);
    int rc, rows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_count(st);
        for (int i = 0; i < n; i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            printf("%s%s", i ? " | " : "", v ? (const char *)v : "NULL");
        }
        printf("\n");
        rows++;
    }
    if (rc != SQLITE_DONE)
        die(title);
    sqlite3_finalize(st);
    printf("   (%d rows)\n", rows);
}

/* SQL function digits_sum(x): the sum of the decimal digits of x. */
static void digits_sum(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(ctx);
        return;
    }
    sqlite3_int64 v = sqlite3_value_int64(argv[0]);
    if (v < 0)
        v = -v;
    int sum = 0;
    do {
        sum += (int)(v % 10);
        v /= 10;
    } while (v);
    sqlite3_result_int(ctx, sum);
}

/* Collation "backwards": compares strings from their last character. */
static int backwards(void *arg, int la, const void *a, int lb, const void *b)
{
    (void)arg;
    const unsigned char *x = a, *y = b;
    while (la > 0 && lb > 0) {
        unsigned char cx = x[--la], cy = y[--lb];
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    return la - lb;
}

static const char *const cities[] = {"Oslo", "Lima", "Pune", "Kyiv", "Rome", "Baku", "Doha", "Nuuk"};
static const char *const products[] = {"anvil", "bolt", "cable", "drill", "epoxy", "flange", "gasket"};

int main(int argc, char **argv)
{
    int rows = argc > 1 ? atoi(argv[1]) : 2000;
    printf("sqlite %s\n", sqlite3_libversion());
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        die("open");
    if (sqlite3_create_function(db, "digits_sum", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, digits_sum, NULL,
                                NULL) != SQLITE_OK)
        die("create_function");
    if (sqlite3_create_collation(db, "backwards", SQLITE_UTF8, NULL, backwards) != SQLITE_OK)
        die("create_collation");

    exec("CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, joined INTEGER);"
         "CREATE TABLE product(id INTEGER PRIMARY KEY, name TEXT UNIQUE, price REAL);"
         "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id),"
         " product_id INTEGER REFERENCES product(id), quantity INTEGER, note TEXT);");

    exec("BEGIN");
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO product(id, name, price) VALUES(?, ?, ?)", -1, &ins, NULL) != SQLITE_OK)
        die("prepare product");
    for (int i = 0; i < (int)(sizeof products / sizeof products[0]); i++) {
        sqlite3_bind_int(ins, 1, i + 1);
        sqlite3_bind_text(ins, 2, products[i], -1, SQLITE_STATIC);
        sqlite3_bind_double(ins, 3, 1.25 + i * 3.5);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert product");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);

    int customers = rows / 10 + 1;
    if (sqlite3_prepare_v2(db, "INSERT INTO customer(name, city, joined) VALUES(?1, ?2, ?3)", -1, &ins, NULL) !=
        SQLITE_OK)
        die("prepare customer");
    for (int i = 0; i < customers; i++) {
        char name[32];
        snprintf(name, sizeof name, "cust-%04d", (i * 7919) % 10000);
        sqlite3_bind_text(ins, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, cities[(i * 5) % 8], -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 3, 2000 + (i * 13) % 25);
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert customer");
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);

    if (sqlite3_prepare_v2(db, "INSERT INTO orders(customer_id, product_id, quantity, note) VALUES(?, ?, ?, ?)", -1,
                           &ins, NULL) != SQLITE_OK)
        die("prepare orders");
    unsigned long state = 42;
    for (int i = 0; i < rows; i++) {
        state = state * 6364136223846793005ul + 1442695040888963407ul;
        unsigned r = (unsigned)(state >> 33);
        sqlite3_bind_int(ins, 1, 1 + (int)(r % (unsigned)customers));
        sqlite3_bind_int(ins, 2, 1 + (int)((r >> 8) % 7));
        sqlite3_bind_int(ins, 3, 1 + (int)((r >> 16) % 20));
        if (r % 5 == 0)
            sqlite3_bind_null(ins, 4);
        else {
            char note[48];
            snprintf(note, sizeof note, "note %u for order %d", r % 1000, i);
            sqlite3_bind_text(ins, 4, note, -1, SQLITE_TRANSIENT);
        }
        if (sqlite3_step(ins) != SQLITE_DONE)
            die("insert order");
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
    }
    sqlite3_finalize(ins);
    exec("COMMIT");
    exec("CREATE INDEX orders_by_customer ON orders(customer_id);"
         "CREATE INDEX customer_by_city ON customer(city, joined);");
    exec("ANALYZE");

    query("counts", "SELECT (SELECT count(*) FROM customer), (SELECT count(*) FROM product),"
                    " (SELECT count(*) FROM orders), (SELECT count(note) FROM orders)");
    query("revenue by city (join + group by + order by)",
          "SELECT c.city, count(*), sum(o.quantity), printf('%.2f', sum(o.quantity * p.price))"
          " FROM orders o JOIN customer c ON c.id = o.customer_id JOIN product p ON p.id = o.product_id"
          " GROUP BY c.city ORDER BY sum(o.quantity * p.price) DESC, c.city");
    query("top customers", "SELECT c.name, c.city, count(o.id) AS n, sum(o.quantity) AS q FROM customer c"
                           " JOIN orders o ON o.customer_id = c.id GROUP BY c.id"
                           " ORDER BY q DESC, c.name LIMIT 5");
    query("products having", "SELECT p.name, printf('%8.3f', avg(o.quantity)), max(o.quantity), min(o.quantity)"
                             " FROM product p LEFT JOIN orders o ON o.product_id = p.id GROUP BY p.id"
                             " HAVING count(*) > 0 ORDER BY p.name");
    query("customers without orders", "SELECT count(*) FROM customer c WHERE NOT EXISTS"
                                      " (SELECT 1 FROM orders o WHERE o.customer_id = c.id)");
    query("indexed range (uses customer_by_city)",
          "SELECT city, joined, count(*) FROM customer WHERE city = 'Lima' AND joined BETWEEN 2005 AND 2010"
          " GROUP BY joined ORDER BY joined");
    query("string functions", "SELECT upper(name), substr(name, 6), length(name), replace(name, '-', '_'),"
                              " instr(name, '0'), hex(substr(name, 1, 2)), printf('%-10s|%5d|%x', name, id, id*255)"
                              " FROM customer ORDER BY id LIMIT 4");
    query("user function and collation",
          "SELECT name, digits_sum(id * 1234567) FROM product ORDER BY name COLLATE backwards");
    query("recursive CTE", "WITH RECURSIVE fib(n, a, b) AS (SELECT 1, 0, 1 UNION ALL"
                           " SELECT n + 1, b, a + b FROM fib WHERE n < 50) SELECT n, a FROM fib WHERE n % 10 = 0");
    query("window functions",
          "SELECT city, name, joined, rank() OVER (PARTITION BY city ORDER BY joined DESC, name),"
          " sum(joined) OVER (PARTITION BY city ORDER BY name ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)"
          " FROM customer WHERE id <= 24 ORDER BY city, name");
    query("math and types", "SELECT 7 / 2, 7 / 2.0, 7 % 3, round(2.675, 2), abs(-9223372036854775807),"
                            " typeof(1), typeof(1.5), typeof('x'), typeof(NULL), typeof(x'00'), cast('12abc' AS INTEGER),"
                            " printf('%e', 12345.6789), 1e308 * 10, coalesce(NULL, NULL, 'third')");
    query("case and subquery", "SELECT CASE WHEN quantity > 15 THEN 'big' WHEN quantity > 5 THEN 'medium'"
                               " ELSE 'small' END AS size, count(*), sum(note IS NULL) FROM orders"
                               " GROUP BY size ORDER BY size");
    query("group_concat", "SELECT city, group_concat(name, ',') FROM (SELECT city, name FROM customer"
                          " WHERE id % 9 = 1 ORDER BY name) GROUP BY city ORDER BY city");

    exec("UPDATE orders SET quantity = quantity * 2 WHERE product_id = 3");
    printf("updated rows: %d\n", sqlite3_changes(db));
    exec("DELETE FROM orders WHERE quantity > 30");
    printf("deleted rows: %d\n", sqlite3_changes(db));
    exec("SAVEPOINT sp; DELETE FROM orders; ROLLBACK TO sp; RELEASE sp;");
    query("after savepoint rollback", "SELECT count(*), sum(quantity) FROM orders");

    char *err = NULL;
    int rc = sqlite3_exec(db, "INSERT INTO product(name, price) VALUES('bolt', 1.0)", NULL, NULL, &err);
    printf("unique violation: rc %d (%s) %s\n", rc, sqlite3_errstr(rc), err ? err : "");
    sqlite3_free(err);
    rc = sqlite3_exec(db, "SELECT * FROM no_such_table", NULL, NULL, &err);
    printf("missing table: rc %d %s\n", rc, err ? err : "");
    sqlite3_free(err);
    query("integrity", "PRAGMA integrity_check");

    sqlite3_close(db);
    printf("done\n");
    return 0;
}
