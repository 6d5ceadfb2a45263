/* SPDX-License-Identifier: MIT */
/* CSV imports: the example files, every kind of bad input reported by line and column, and
 * all-or-nothing. */
#include "ledger_test.h"
#include "storekeeper/config.h"

static struct sk_shelf_cfg shelves[4] = {
        {.name = "A1", .reader = "reader-a", .antenna = 1},
        {.name = "B1", .reader = "reader-b", .antenna = 1},
        {.name = "C1", .reader = "reader-c", .antenna = 1},
        {.name = "D1", .reader = "reader-d", .antenna = 1},
};

static struct sk_config *demo_cfg(void)
{
    static struct sk_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.shelves = shelves;
    cfg.n_shelves = 4;
    return &cfg;
}

/* Imports text as a file; returns the result code; diag lines joined into out. */
static int import_text(struct lt *t,
                       int kind,
                       const char *name,
                       const char *text,
                       unsigned flags,
                       char *out,
                       size_t size,
                       struct sk_import_result *res)
{
    char path[256];
    sk_test_write(t->dir, name, text, path, sizeof(path));
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_import_opts io = {.kind = kind, .flags = flags, .cfg = demo_cfg(), .diag = &d};
    int r = sk_ledger_import(t->l, path, &io, res);
    out[0] = '\0';
    for (size_t i = 0; i < d.n; i++) {
        /* Strip the directory so expectations read "products.csv:3:4: ..." */
        const char *line = strstr(d.lines[i], name);
        strncat(out, line ? line : d.lines[i], size - strlen(out) - 2);
        strncat(out, "\n", size - strlen(out) - 1);
    }
    sk_diag_free(&d);
    return r;
}

static void expect(const char *got, const char *want)
{
    if (!strstr(got, want)) {
        fprintf(stderr, "wanted: %s\ngot:\n%s", want, got);
    }
    assert_non_null(strstr(got, want));
}

static void test_examples(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_import_result res;
    static const char *const files[3] = {"products.csv", "tags.csv", "planogram.csv"};
    int64_t rows[3] = {11, 6, 11};
    for (int k = 0; k < 3; k++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/examples/%s", SK_SOURCE_DIR, files[k]);
        struct sk_import_opts io = {.kind = k, .cfg = demo_cfg(), .diag = &d};
        int r = sk_ledger_import(t.l, path, &io, &res);
        for (size_t i = 0; i < d.n; i++) {
            fprintf(stderr, "%s\n", d.lines[i]);
        }
        assert_int_equal(r, 0);
        assert_int_equal(res.rows, rows[k]);
        assert_int_equal(res.inserted, rows[k]);
        assert_int_equal(res.errors, 0);
    }
    /* Again: every row is an update now. */
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/products.csv", SK_SOURCE_DIR);
    struct sk_import_opts io = {.kind = SK_IMPORT_PRODUCTS, .diag = &d};
    assert_int_equal(sk_ledger_import(t.l, path, &io, &res), 0);
    assert_int_equal(res.updated, 11);
    assert_int_equal(res.inserted, 0);
    sk_diag_free(&d);
    struct sk_product p;
    assert_int_equal(sk_ledger_product_get(t.l, "COLA-033", &p), 1);
    assert_int_equal(p.price_minor, 149);
    assert_string_equal(p.gtin, "04099999000104");
    assert_int_equal(sk_ledger_product_get(t.l, "BREAD-ROLL", &p), 1);
    assert_string_equal(p.gtin, "");
    assert_string_equal(p.name, "Bread roll, freshly baked");
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM planogram WHERE shelf = 'C1'"), 3);
    lt_teardown(&t);
}

static void test_formats(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    char out[4096];
    struct sk_import_result res;
    /* BOM, CRLF, comments, blank lines, quotes with "" and commas, columns in any order,
     * case-insensitive header, optional columns absent, currencies of 0 and 3 decimals. */
    const char *text = "\xef\xbb\xbf"
                       "Name,SKU,Price,Currency\r\n"
                       "# a comment\r\n"
                       "\r\n"
                       "\"Say \"\"cheese\"\", 200 g\",CHEESE,3.5,EUR\r\n"
                       "  Green tea  ,TEA,120,JPY\r\n"
                       "Dates,DATES,1.250,KWD\r\n"
                       "Water,WATER,0.990,EUR\n";
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv", text, 0, out, sizeof(out), &res),
                     0);
    assert_int_equal(res.rows, 4);
    struct sk_product p;
    assert_int_equal(sk_ledger_product_get(t.l, "CHEESE", &p), 1);
    assert_string_equal(p.name, "Say \"cheese\", 200 g");
    assert_int_equal(p.price_minor, 350);
    assert_int_equal(sk_ledger_product_get(t.l, "TEA", &p), 1);
    assert_string_equal(p.name, "Green tea");
    assert_int_equal(p.price_minor, 120);
    assert_int_equal(sk_ledger_product_get(t.l, "DATES", &p), 1);
    assert_int_equal(p.price_minor, 1250);
    assert_int_equal(sk_ledger_product_get(t.l, "WATER", &p), 1);
    assert_int_equal(p.price_minor, 99);
    /* GTIN-8, -12 and -13 become GTIN-14. */
    text = "sku,gtin,name,price,currency\n"
           "G8,96385074,g8,1,EUR\n"
           "G12,036000291452,g12,1,EUR\n"
           "G13,4006381333931,g13,1,EUR\n";
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "g.csv", text, 0, out, sizeof(out), &res),
                     0);
    assert_int_equal(sk_ledger_product_get(t.l, "G12", &p), 1);
    assert_string_equal(p.gtin, "00036000291452");
    lt_teardown(&t);
}

struct bad_case {
    int kind;
    const char *text;
    const char *want;
};

static const struct bad_case bad_cases[] = {
        {SK_IMPORT_PRODUCTS, "", "bad.csv: empty file: a header row is needed"},
        {SK_IMPORT_PRODUCTS, "sku,name,currency\nA,a,EUR\n",
         "bad.csv:1: the required column \"price\" is missing"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency,colour\nA,a,1,EUR,red\n",
         "bad.csv:1:5: colour: unknown column (known: sku, gtin, name, price, currency, "
         "restock_threshold, restock_target)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency,SKU\n",
         "bad.csv:1:5: sku: column given twice"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1,EUR\nB,b,abc,EUR\n",
         "bad.csv:3:3: price: \"abc\" is not a price"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1.234,EUR\n",
         "bad.csv:2:3: price: \"1.234\" has more decimals than EUR has (2)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,100.5,JPY\n",
         "bad.csv:2:3: price: \"100.5\" has more decimals than JPY has (0)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,-1,EUR\n",
         "bad.csv:2:3: price: \"-1\" is not a price"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1,eur\n",
         "bad.csv:2:4: currency: \"eur\" is not an ISO 4217 currency code in use (like EUR)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1,ZZZ\n",
         "bad.csv:2:4: currency: \"ZZZ\" is not an ISO 4217 currency code in use (like EUR)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1,HRK\n",
         "bad.csv:2:4: currency: \"HRK\" is not an ISO 4217 currency code in use (like EUR)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1.234,XAU\n",
         "bad.csv:2:4: currency: \"XAU\" is not an ISO 4217 currency code in use (like EUR)"},
        {SK_IMPORT_PRODUCTS, "sku,gtin,name,price,currency\nA,4006381333932,a,1,EUR\n",
         "bad.csv:2:2: gtin: \"4006381333932\": wrong check digit"},
        {SK_IMPORT_PRODUCTS, "sku,gtin,name,price,currency\nA,40063813339,a,1,EUR\n",
         "bad.csv:2:2: gtin: \"40063813339\" is not a GTIN"},
        {SK_IMPORT_PRODUCTS,
         "sku,gtin,name,price,currency\nA,4006381333931,a,1,EUR\nB,04006381333931,b,1,EUR\n",
         "bad.csv:3:2: gtin: GTIN 04006381333931 is already on line 2"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1,EUR\n\nA,b,2,EUR\n",
         "bad.csv:4:1: sku: \"A\" is already on line 2"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA B,a,1,EUR\n",
         "bad.csv:2:1: sku: \"A B\" is not a sku"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,,1,EUR\n",
         "bad.csv:2:2: name: a name of 1 to 127 bytes of UTF-8 text is needed"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,\"a\tb\",1,EUR\n",
         "bad.csv:2:2: name: a name of 1 to 127 bytes"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,\xff\xfe,1,EUR\n",
         "bad.csv:2:2: name: a name of 1 to 127 bytes"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a,1\n",
         "bad.csv:2: 3 field(s), but the header has 4 column(s)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,\"a,1,EUR\n",
         "bad.csv:2:2: quoted field is not closed before the end of the file"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,\"a\"x,1,EUR\n",
         "bad.csv:2:2: text after a closing quote"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency\nA,a\"b,1,EUR\n",
         "bad.csv:2:2: a double quote inside an unquoted field"},
        {SK_IMPORT_PRODUCTS,
         "sku,name,price,currency,restock_threshold,restock_target\nA,a,1,EUR,10,5\n",
         "bad.csv:2:6: restock_target: 5 is below restock_threshold (10)"},
        {SK_IMPORT_PRODUCTS, "sku,name,price,currency,restock_threshold\nA,a,1,EUR,many\n",
         "bad.csv:2:5: restock_threshold: \"many\" is not a whole number"},
        {SK_IMPORT_TAGS, "epc,sku\nXYZ1,A\n", "bad.csv:2:1: epc: \"XYZ1\" is not an EPC"},
        {SK_IMPORT_TAGS, "epc,sku\n30140000,A\n",
         "bad.csv:2:2: sku: unknown sku \"A\" (import "
         "products first)"},
        {SK_IMPORT_TAGS, "epc,sku\n301400,A\n", "bad.csv:2:1: epc: \"301400\" is not an EPC"},
        {SK_IMPORT_PLANOGRAM, "shelf,sku,capacity\nZ9,KNOWN,1\n",
         "bad.csv:2:1: shelf: unknown shelf \"Z9\" (not in the configuration's shelves)"},
        {SK_IMPORT_PLANOGRAM, "shelf,sku,capacity\nA1,NOPE,1\n",
         "bad.csv:2:2: sku: unknown sku \"NOPE\""},
        {SK_IMPORT_PLANOGRAM, "shelf,sku,capacity\nA1,KNOWN,-3\n",
         "bad.csv:2:3: capacity: \"-3\" is not a whole number from 0 to 1000000"},
        {SK_IMPORT_PLANOGRAM, "shelf,sku,capacity\nA1,KNOWN,1\nA1,KNOWN,2\n",
         "bad.csv:3:2: sku: shelf A1 already has KNOWN on line 2"},
};

static void test_bad_input(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    struct sk_product p = {.sku = "KNOWN", .name = "k", .price_minor = 1, .currency = "EUR"};
    assert_int_equal(sk_ledger_product_put(t.l, &p), 0);
    char out[8192];
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct sk_import_result res;
        int64_t before = lt_int(t.l, "SELECT count(*) FROM products") +
                         lt_int(t.l, "SELECT count(*) FROM tags") +
                         lt_int(t.l, "SELECT count(*) FROM planogram");
        int r = import_text(&t, bad_cases[i].kind, "bad.csv", bad_cases[i].text, 0, out,
                            sizeof(out), &res);
        if (r != -EINVAL) {
            fprintf(stderr, "case %zu: %d\n%s", i, r, out);
        }
        assert_int_equal(r, -EINVAL);
        expect(out, bad_cases[i].want);
        assert_true(res.errors > 0);
        int64_t after = lt_int(t.l, "SELECT count(*) FROM products") +
                        lt_int(t.l, "SELECT count(*) FROM tags") +
                        lt_int(t.l, "SELECT count(*) FROM planogram");
        assert_int_equal(before, after);
    }
    lt_teardown(&t);
}

static void test_all_or_nothing_and_limits(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    char out[16384];
    struct sk_import_result res;
    /* 3 good rows and a bad one: nothing lands. */
    const char *text = "sku,name,price,currency\nA,a,1,EUR\nB,b,2,EUR\nC,c,x,EUR\nD,d,4,EUR\n";
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv", text, 0, out, sizeof(out), &res),
                     -EINVAL);
    assert_int_equal(res.rows, 4);
    assert_int_equal(res.errors, 1);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM products"), 0);
    /* Many problems: the first 20 and a count. */
    char big[8192] = "sku,name,price,currency\n";
    for (int i = 0; i < 25; i++) {
        char line[64];
        snprintf(line, sizeof(line), "S%d,n,bad,EUR\n", i);
        strcat(big, line);
    }
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv", big, 0, out, sizeof(out), &res),
                     -EINVAL);
    assert_int_equal(res.errors, 25);
    expect(out, "p.csv:21:3: price");
    expect(out, "p.csv: 5 more problem(s) not shown");
    assert_null(strstr(out, "p.csv:22:3"));
    /* A field over 1024 bytes, 33 columns. */
    char *huge = malloc(4000);
    strcpy(huge, "sku,name,price,currency\nA,");
    memset(huge + strlen(huge), 'n', 1100);
    strcpy(huge + 26 + 1100, ",1,EUR\n");
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv", huge, 0, out, sizeof(out), &res),
                     -EINVAL);
    expect(out, "p.csv:2:2: field longer than 1024 bytes");
    strcpy(huge, "sku");
    for (int i = 0; i < 33; i++) {
        strcat(huge, ",x");
    }
    strcat(huge, "\n");
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv", huge, 0, out, sizeof(out), &res),
                     -EINVAL);
    expect(out, "p.csv:1:33: more than 32 columns");
    free(huge);
    /* A missing file. */
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_import_opts io = {.kind = SK_IMPORT_TAGS, .diag = &d};
    assert_int_equal(sk_ledger_import(t.l, "/nonexistent/t.csv", &io, &res), -ENOENT);
    assert_non_null(strstr(d.lines[0], "/nonexistent/t.csv: cannot open"));
    sk_diag_free(&d);
    lt_teardown(&t);
}

static void test_replace_and_dry_run(void **state)
{
    (void)state;
    struct lt t;
    lt_setup(&t);
    char out[4096];
    struct sk_import_result res;
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv",
                                 "sku,name,price,currency\nA,a,1,EUR\nB,b,2,EUR\nC,c,3,EUR\n", 0,
                                 out, sizeof(out), &res),
                     0);
    assert_int_equal(import_text(&t, SK_IMPORT_PLANOGRAM, "g.csv",
                                 "shelf,sku,capacity\nA1,A,5\nB1,B,5\nC1,C,5\n", 0, out,
                                 sizeof(out), &res),
                     0);
    /* Dry run: validated, not written. */
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv",
                                 "sku,name,price,currency\nD,d,4,EUR\n", SK_IMPORT_DRY_RUN, out,
                                 sizeof(out), &res),
                     0);
    assert_int_equal(res.inserted, 1);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM products"), 3);
    /* Replacing the products would orphan planogram rows: refused, named. */
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv",
                                 "sku,name,price,currency\nA,a,1,EUR\n", SK_IMPORT_REPLACE, out,
                                 sizeof(out), &res),
                     -EBUSY);
    expect(out, "--replace would remove product B, which 0 tag mapping(s) and 1 planogram row(s)");
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM products"), 3);
    /* Replacing the planogram drops what the file does not name. */
    assert_int_equal(import_text(&t, SK_IMPORT_PLANOGRAM, "g.csv", "shelf,sku,capacity\nA1,A,7\n",
                                 SK_IMPORT_REPLACE, out, sizeof(out), &res),
                     0);
    assert_int_equal(res.removed, 2);
    assert_int_equal(res.updated, 1);
    assert_int_equal(lt_int(t.l, "SELECT capacity FROM planogram"), 7);
    assert_int_equal(import_text(&t, SK_IMPORT_PRODUCTS, "p.csv",
                                 "sku,name,price,currency\nA,a,1,EUR\n", SK_IMPORT_REPLACE, out,
                                 sizeof(out), &res),
                     0);
    assert_int_equal(res.removed, 2);
    assert_int_equal(lt_int(t.l, "SELECT count(*) FROM products"), 1);
    lt_teardown(&t);
}

/* opts.text: the same import from memory; the text needs no NUL after it and the path only
 * names it in problems. */
static void test_from_memory(void **state)
{
    (void)state;
    char text[] = "sku,name,price,currency\nMEM,From memory,2.5,EURxx";
    struct lt t;
    lt_setup(&t);
    struct sk_diag d;
    sk_diag_init(&d);
    struct sk_import_result res;
    struct sk_import_opts io = {.kind = SK_IMPORT_PRODUCTS,
                                .diag = &d,
                                .text = text,
                                .len = strlen(text) - 2}; /* "xx" is past the end */
    assert_int_equal(sk_ledger_import(t.l, "mem.csv", &io, &res), 0);
    assert_int_equal(res.inserted, 1);
    struct sk_product p;
    assert_int_equal(sk_ledger_product_get(t.l, "MEM", &p), 1);
    assert_int_equal(p.price_minor, 250);
    io.len = strlen(text); /* now the currency reads EURxx */
    assert_int_equal(sk_ledger_import(t.l, "mem.csv", &io, &res), -EINVAL);
    assert_true(d.n > 0);
    assert_non_null(strstr(d.lines[0], "mem.csv:2:"));
    sk_diag_free(&d);
    sk_diag_init(&d);
    io.len = (size_t)17 * 1024 * 1024; /* refused before anything is read or copied */
    assert_int_equal(sk_ledger_import(t.l, "big.csv", &io, &res), -EFBIG);
    assert_non_null(strstr(d.lines[0], "big.csv: larger than 16 MiB"));
    sk_diag_free(&d);
    lt_teardown(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_examples),
            cmocka_unit_test(test_formats),
            cmocka_unit_test(test_bad_input),
            cmocka_unit_test(test_all_or_nothing_and_limits),
            cmocka_unit_test(test_replace_and_dry_run),
            cmocka_unit_test(test_from_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
