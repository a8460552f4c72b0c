/*
 * test_serve_units.c: the back office's pure helpers, without a server:
 * API times (when.c), input rules and VRM helpers (valid.c), the CSV
 * reader (csv.c), the string map (strmap.c) and the hotlist matcher
 * (matcher.c), including its edge cases (expiry, substitution limits,
 * several lists, patterns).
 */
#include "csv.h"
#include "matcher.h"
#include "strmap.h"
#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"

static void test_when(void)
{
    int64_t ms;
    CHECK(when_parse("1970-01-01T00:00:00Z", &ms) == 0 && ms == 0);
    CHECK(when_parse("2026-11-24T10:15:30.123Z", &ms) == 0 && ms == 1795515330123LL);
    CHECK(when_parse("2026-11-24T10:15:30.1Z", &ms) == 0 && ms % 1000 == 100);
    CHECK(when_parse("2026-11-24T10:15:30+00:00", &ms) == 0 && ms == 1795515330000LL);
    CHECK(when_parse("2024-02-29T00:00:00Z", &ms) == 0);
    CHECK(when_parse("1795515330123", &ms) == 0 && ms == 1795515330123LL);
    static const char *const bad[] = {
        "", "2026-11-24", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
        "2026-11-24T24:00:00Z", "2026-11-24T10:15:30+01:00", "2026-11-24T10:15:30Zjunk",
        "2026-11-24T10:15:30.Z", "-5", "12ab", "2026-11-24T10:15:30",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(when_parse(bad[i], &ms) == -1);
    char out[32];
    when_format(1795515330123LL, out);
    CHECK(!strcmp(out, "2026-11-24T10:15:30.123Z"));
    when_format(0, out);
    CHECK(!strcmp(out, "1970-01-01T00:00:00.000Z"));
    /* Round trip over a spread of times. */
    for (int64_t t = 0; t < 4102444800000LL; t += 86400123LL * 37) {
        when_format(t, out);
        CHECK(when_parse(out, &ms) == 0 && ms == t);
    }
}

static void test_valid(void)
{
    CHECK(valid_vrm("AB12CDE") && valid_vrm("A") && valid_vrm("1234567890"));
    CHECK(!valid_vrm("") && !valid_vrm("ab12cde") && !valid_vrm("AB12 CDE")
          && !valid_vrm("12345678901") && !valid_vrm("AB12*") && !valid_vrm(NULL));
    CHECK(valid_pattern("AB12*") && valid_pattern("?B12CDE") && !valid_pattern("AB12CDE")
          && !valid_pattern("ab*") && !valid_pattern("*%"));
    CHECK(valid_id("CAM-001") && valid_id("r.1:a_b") && !valid_id("a b")
          && !valid_id("x'--") && !valid_id("a/b"));
    CHECK(valid_name("stolen-2026") && !valid_name("a:b"));
    CHECK(valid_text("plain text, with UTF-8 \xc3\xa9", 100) && !valid_text("a\nb", 100)
          && !valid_text("long", 3));
    char a[16], b[16];
    valid_key("AB12CDE", a);
    valid_key("A812CDE", b);
    CHECK(!strcmp(a, b));
    valid_key("0OQD", a);
    valid_key("DQO0", b);
    CHECK(!strcmp(a, b));
    valid_key("AB12CDE", a);
    valid_key("AB12CDF", b);
    CHECK(strcmp(a, b));
    CHECK(valid_substitutions("AB12CDE", "A812CDE") == 1);
    CHECK(valid_substitutions("AB12CDE", "A812C0E") == 2);
    CHECK(valid_glob("AB12*", "AB12CDE") && valid_glob("*CDE", "AB12CDE")
          && valid_glob("?B12CDE", "AB12CDE") && valid_glob("A*2*E", "AB12CDE")
          && valid_glob("*", "X"));
    CHECK(!valid_glob("AB12?", "AB12CDE") && !valid_glob("?B12CDE", "B12CDE")
          && !valid_glob("*Z", "AB12CDE"));
}

typedef struct rows {
    char text[16][CSV_MAX_FIELDS][32];
    int nf[16], line[16], n, stop_at;
} rows;

static int take(void *ctx, int line, char **f, int nf)
{
    rows *r = ctx;
    if (r->n == r->stop_at)
        return 1;
    r->nf[r->n] = nf;
    r->line[r->n] = line;
    for (int i = 0; i < nf; i++)
        snprintf(r->text[r->n][i], 32, "%s", f[i]);
    r->n++;
    return 0;
}

static int parse(const char *text, rows *r, int stop_at)
{
    char err[128];
    memset(r, 0, sizeof *r);
    r->stop_at = stop_at;
    return csv_parse(text, strlen(text), take, r, err, sizeof err);
}

static void test_csv(void)
{
    rows r;
    CHECK(parse("a,b,c\r\n\"d,1\",\"say \"\"hi\"\"\",\n\nlast", &r, -1) == 0);
    CHECK(r.n == 3 && r.nf[0] == 3 && r.nf[1] == 3 && r.nf[2] == 1);
    CHECK(!strcmp(r.text[1][0], "d,1") && !strcmp(r.text[1][1], "say \"hi\"")
          && !strcmp(r.text[1][2], "") && !strcmp(r.text[2][0], "last"));
    CHECK(r.line[0] == 1 && r.line[1] == 2 && r.line[2] == 4);
    CHECK(parse("a\n\"multi\nline\",x\nb\n", &r, -1) == 0 && r.n == 3 && r.line[2] == 4);
    CHECK(parse("a\nb\nc\n", &r, 1) == 2);           /* a row refused: its line */
    CHECK(parse("ok\n\"open\n", &r, -1) == 2);        /* unterminated quote */
    CHECK(parse("ok\nx\"y\n", &r, -1) == 2);          /* stray quote */
    CHECK(parse("\"a\"b\n", &r, -1) == 1);            /* text after a quote */
    char nul[] = "a\nb\0c\n";
    char err[128];
    memset(&r, 0, sizeof r);
    r.stop_at = -1;
    CHECK(csv_parse(nul, sizeof nul - 1, take, &r, err, sizeof err) == 2);
    char many[256] = "";
    for (int i = 0; i < CSV_MAX_FIELDS + 1; i++)
        strcat(many, "x,");
    CHECK(parse(many, &r, -1) == 1);
    CHECK(parse("", &r, -1) == 0 && r.n == 0);
}

static void test_strmap(void)
{
    strmap m = { 0 };
    char (*keys)[12] = malloc(100000 * 12);
    for (int i = 0; i < 100000; i++) {
        snprintf(keys[i], 12, "k%d", i);
        CHECK(strmap_set(&m, keys[i], i) == 0);
    }
    int64_t v;
    int ok = 1;
    for (int i = 0; i < 100000; i++)
        ok &= strmap_get(&m, keys[i], &v) && v == i;
    CHECK(ok && m.n == 100000);
    CHECK(!strmap_get(&m, "absent", &v));
    CHECK(strmap_set(&m, "k5", 42) == 0 && strmap_get(&m, "k5", &v) && v == 42 && m.n == 100000);
    strmap_free(&m);
    free(keys);
}

static void add_entry(matcher *m, const char *list, int64_t id, const char *vrm,
                      int pattern, int64_t expires)
{
    store_entry e = { .id = id, .is_pattern = pattern, .expires_ms = expires };
    snprintf(e.hotlist, sizeof e.hotlist, "%s", list);
    snprintf(e.vrm, sizeof e.vrm, "%s", vrm);
    snprintf(e.reason, sizeof e.reason, "reason %lld", (long long)id);
    CHECK(matcher_add_entry(m, &e) == 0);
}

static int match(const matcher *m, const char *vrm, int64_t now, store_hit *h)
{
    char key[16];
    valid_key(vrm, key);
    return matcher_match(m, vrm, key, now, h, 8);
}

static void test_matcher(void)
{
    matcher *m = matcher_new();
    store_hotlist strict = { .name = "strict", .priority = 3, .fuzzy = 0 };
    store_hotlist loose = { .name = "loose", .priority = 7, .fuzzy = 1 };
    CHECK(matcher_add_hotlist(m, &strict) == 0 && matcher_add_hotlist(m, &loose) == 0);
    add_entry(m, "strict", 1, "AB12CDE", 0, 0);
    add_entry(m, "loose", 2, "AB12CDE", 0, 0);
    add_entry(m, "loose", 3, "KT70XYZ", 0, 1000);       /* expires at 1000 */
    add_entry(m, "strict", 4, "ZZ9*", 1, 0);
    add_entry(m, "nolist", 5, "AB12CDE", 0, 0);         /* ignored */
    CHECK(matcher_seal(m) == 0);
    CHECK(matcher_size(m) == 4);
    store_hit h[8];
    int n = match(m, "AB12CDE", 0, h);
    CHECK(n == 2 && h[0].match == STORE_MATCH_EXACT && h[1].match == STORE_MATCH_EXACT);
    CHECK((h[0].entry_id == 1 && h[0].priority == 3) || (h[0].entry_id == 2 && h[0].priority == 7));
    n = match(m, "A812CDE", 0, h);                      /* one lookalike: loose only */
    CHECK(n == 1 && h[0].entry_id == 2 && h[0].match == STORE_MATCH_FUZZY
          && h[0].substitutions == 1 && !strcmp(h[0].hotlist, "loose")
          && !strcmp(h[0].reason, "reason 2") && !strcmp(h[0].entry_vrm, "AB12CDE"));
    CHECK(match(m, "A812C0E", 0, h) == 0);              /* two: beyond loose's 1 */
    CHECK(match(m, "KT70XYZ", 999, h) == 1);
    CHECK(match(m, "KT70XYZ", 1000, h) == 0);           /* expired */
    n = match(m, "ZZ9ABC", 0, h);
    CHECK(n == 1 && h[0].match == STORE_MATCH_PATTERN && h[0].entry_id == 4);
    CHECK(match(m, "ZZ8ABC", 0, h) == 0);
    CHECK(match(m, "XX11XXX", 0, h) == 0);
    CHECK(matcher_match(m, "AB12CDE", "AB12CDE", 0, h, 1) == 1); /* max respected */
    matcher_free(m);

    /* Many entries sharing one key chain correctly. */
    m = matcher_new();
    CHECK(matcher_add_hotlist(m, &loose) == 0);
    const char *alike[] = { "O1", "01", "D1", "QI", "0L" };
    for (int i = 0; i < 5; i++)
        add_entry(m, "loose", 10 + i, alike[i], 0, 0);
    CHECK(matcher_seal(m) == 0);
    n = match(m, "O1", 0, h);
    CHECK(n == 3); /* itself exactly, 01 and D1 one apart; QI, 0L are two apart */
    matcher_free(m);
}

int main(void)
{
    test_when();
    test_valid();
    test_csv();
    test_strmap();
    test_matcher();
    if (failures) {
        fprintf(stderr, "test_serve_units: %d checks failed\n", failures);
        return 1;
    }
    printf("test_serve_units: all checks passed\n");
    return 0;
}
