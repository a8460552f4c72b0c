/*
 * test_syntax.c: plate formats, ranking readings by format and network
 * probability, OCR equivalence, and hostile input to all of them.
 */
#include "syntax.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char ALPHABET[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

static int sym(char c)
{
    return (int)(strchr(ALPHABET, c) - ALPHABET);
}

/*
 * A reading of `text` whose every character the network gives probability
 * p_read, the rest spread evenly over the other symbols (p_read 1: one-hot).
 * logp is the product of the characters read.
 */
static plate_reading reading(const char *text, float p_read)
{
    plate_reading r;
    memset(&r, 0, sizeof r);
    r.len = (int)strlen(text);
    memcpy(r.text, text, (size_t)r.len);
    r.logp = 0;
    for (int i = 0; i < r.len; i++) {
        for (int s = 0; s < SYNTAX_NSYM; s++)
            r.prob[i][s] = (1 - p_read) / (SYNTAX_NSYM - 1);
        r.prob[i][sym(text[i])] = p_read;
        r.logp += logf(p_read);
    }
    return r;
}

/* Moves probability p at position i to symbol c, from the symbol read. */
static void give(plate_reading *r, int i, char c, float p)
{
    int read = sym(r->text[i]);
    r->logp += logf((r->prob[i][read] - p) / r->prob[i][read]);
    r->prob[i][read] -= p;
    r->prob[i][sym(c)] += p;
}

/* The format syntax_classify names for text under country. */
static const char *format_of(const char *text, anpr_country country)
{
    static char fmt[24];
    char cty[4];
    syntax_classify(text, country, cty, fmt);
    /* The country must agree with the format's prefix. */
    if (strcmp(fmt, "other") == 0)
        CHECK(cty[0] == '\0');
    else
        CHECK(strncmp(fmt, cty, 2) == 0);
    return fmt;
}

static void expect_format(const char *text, anpr_country country,
                          const char *want, int line)
{
    const char *got = format_of(text, country);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "%s:%d: \"%s\" classified %s, expected %s\n",
                __FILE__, line, text, got, want);
        failures++;
    }
}
#define FORMAT(text, country, want) expect_format(text, country, want, __LINE__)

static void test_classify_gb(void)
{
    /* Current: area letters, age identifier, three random letters. */
    FORMAT("AB12CDE", ANPR_COUNTRY_AUTO, "gb-current");
    FORMAT("BD51SMR", ANPR_COUNTRY_AUTO, "gb-current");
    FORMAT("YA26ZZZ", ANPR_COUNTRY_GB, "gb-current");
    FORMAT("AZ02ABC", ANPR_COUNTRY_GB, "gb-current");   /* Z second is fine */
    FORMAT("AB99CDE", ANPR_COUNTRY_GB, "gb-current");   /* implausible age, still the format */
    FORMAT("IB12CDE", ANPR_COUNTRY_GB, "other");        /* I, Q, Z never first */
    FORMAT("QB12CDE", ANPR_COUNTRY_GB, "other");
    FORMAT("ZB12CDE", ANPR_COUNTRY_GB, "other");
    FORMAT("AI12CDE", ANPR_COUNTRY_GB, "other");        /* I, Q never second */
    FORMAT("AQ12CDE", ANPR_COUNTRY_GB, "other");
    FORMAT("AB12CDI", ANPR_COUNTRY_GB, "other");        /* nor in the last three */
    FORMAT("AB12QDE", ANPR_COUNTRY_GB, "other");
    FORMAT("AB1CDEF", ANPR_COUNTRY_GB, "other");
    FORMAT("IB12CDE", ANPR_COUNTRY_AUTO, "eu");         /* still a plate somewhere */

    /* Prefix: year letter, 1 to 3 digits, three letters. */
    FORMAT("A123BCD", ANPR_COUNTRY_GB, "gb-prefix");
    FORMAT("P1ABC", ANPR_COUNTRY_GB, "gb-prefix");
    FORMAT("K12ZYX", ANPR_COUNTRY_GB, "gb-prefix");     /* Z may start the letters */
    FORMAT("I123BCD", ANPR_COUNTRY_GB, "other");
    FORMAT("O123BCD", ANPR_COUNTRY_GB, "other");
    FORMAT("U1ABC", ANPR_COUNTRY_GB, "other");
    FORMAT("Z12ABC", ANPR_COUNTRY_GB, "other");
    FORMAT("A123BCQ", ANPR_COUNTRY_GB, "other");
    FORMAT("A1234BCD", ANPR_COUNTRY_GB, "other");

    /* Suffix: three letters, 1 to 3 digits, year letter. */
    FORMAT("ABC123D", ANPR_COUNTRY_GB, "gb-suffix");
    FORMAT("XYZ1A", ANPR_COUNTRY_GB, "gb-suffix");
    FORMAT("ABC12Y", ANPR_COUNTRY_GB, "gb-suffix");
    FORMAT("ABC123I", ANPR_COUNTRY_GB, "other");
    FORMAT("ABC123O", ANPR_COUNTRY_GB, "other");
    FORMAT("ABC123U", ANPR_COUNTRY_GB, "other");
    FORMAT("ABC123Z", ANPR_COUNTRY_GB, "other");
    FORMAT("ABC123Q", ANPR_COUNTRY_GB, "other");

    /* Northern Ireland: I or Z in the last two letters, up to 4 digits. */
    FORMAT("ABZ1234", ANPR_COUNTRY_GB, "gb-ni");
    FORMAT("AIZ123", ANPR_COUNTRY_GB, "gb-ni");
    FORMAT("BIA12", ANPR_COUNTRY_GB, "gb-ni");
    FORMAT("LJZ7", ANPR_COUNTRY_GB, "gb-ni");
    FORMAT("ZAB1234", ANPR_COUNTRY_GB, "gb-dateless");  /* Z first is not NI */
    FORMAT("ABZ12345", ANPR_COUNTRY_GB, "other");

    /* Dateless: 1-3 letters and 1-4 digits, either order. */
    FORMAT("A1", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("AB1234", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("1234AB", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("ABC123", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("9999ABC", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("1A", ANPR_COUNTRY_GB, "gb-dateless");
    FORMAT("ABCD1", ANPR_COUNTRY_GB, "other");
    FORMAT("12345A", ANPR_COUNTRY_GB, "other");
    FORMAT("A1B", ANPR_COUNTRY_GB, "other");
    FORMAT("ABC", ANPR_COUNTRY_GB, "other");
    FORMAT("1234", ANPR_COUNTRY_GB, "other");
}

static void test_classify_others(void)
{
    FORMAT("ABC1234", ANPR_COUNTRY_BR, "br-old");
    FORMAT("ABC1D23", ANPR_COUNTRY_BR, "br-mercosur");
    FORMAT("BRA2E19", ANPR_COUNTRY_AUTO, "br-mercosur");
    FORMAT("ABC12D3", ANPR_COUNTRY_BR, "other");
    FORMAT("AB1C234", ANPR_COUNTRY_BR, "other");
    FORMAT("ABC123", ANPR_COUNTRY_BR, "other");
    /* One text, two countries' formats: the country decides. */
    FORMAT("ABC1234", ANPR_COUNTRY_AUTO, "br-old");
    FORMAT("ABC1234", ANPR_COUNTRY_GB, "gb-dateless");

    FORMAT("KA123AB", ANPR_COUNTRY_AUTO, "eu");
    FORMAT("ABCD12345", ANPR_COUNTRY_AUTO, "eu");
    FORMAT("AB1234567X", ANPR_COUNTRY_EU, "eu");
    FORMAT("ABC", ANPR_COUNTRY_AUTO, "us");
    FORMAT("A1B", ANPR_COUNTRY_AUTO, "us");
    FORMAT("6A5730A", ANPR_COUNTRY_US, "us");
    FORMAT("AB12CDE", ANPR_COUNTRY_US, "us");
    FORMAT("ABC", ANPR_COUNTRY_EU, "other");
    FORMAT("ABCDEFGHI", ANPR_COUNTRY_US, "other");
    FORMAT("AB1234567XY", ANPR_COUNTRY_AUTO, "other");
    FORMAT("A", ANPR_COUNTRY_AUTO, "other");
    FORMAT("6A5730A", ANPR_COUNTRY_GB, "other");
    FORMAT("6A5730A", ANPR_COUNTRY_BR, "other");

    /* Case does not matter; anything but letters and digits is "other". */
    FORMAT("ab12cde", ANPR_COUNTRY_AUTO, "gb-current");
    FORMAT("AB12 CDE", ANPR_COUNTRY_AUTO, "other");
    FORMAT("AB-12", ANPR_COUNTRY_AUTO, "other");
    FORMAT("AB\xff" "12", ANPR_COUNTRY_AUTO, "other");
    FORMAT("", ANPR_COUNTRY_AUTO, "other");
    FORMAT("ABCDEFGHIJKLMNOPQRSTUVWXYZ", ANPR_COUNTRY_AUTO, "other");
    FORMAT("AB12CDE", (anpr_country)99, "other");
    FORMAT(NULL, ANPR_COUNTRY_AUTO, "other");
    syntax_classify("AB12CDE", ANPR_COUNTRY_AUTO, NULL, NULL);
}

/* Checks what every ranking must satisfy, and returns the count. */
static int rank(const plate_reading *r, int n, anpr_country country,
                syntax_result *out, int max_out)
{
    int m = syntax_rank(r, n, country, out, max_out);
    CHECK(m >= 0 && m <= (max_out > 0 ? max_out : 0));
    double total = 0;
    for (int k = 0; k < m; k++) {
        char cty[4], fmt[24];
        CHECK(out[k].confidence >= 0 && out[k].confidence <= 1);
        total += out[k].confidence;
        size_t len = strlen(out[k].text);
        CHECK(len >= 1 && len < ANPR_MAX_TEXT);
        for (size_t i = 0; i < len; i++) {
            CHECK(strchr(ALPHABET, out[k].text[i]) != NULL);
            CHECK(out[k].char_confidence[i] >= 0 && out[k].char_confidence[i] <= 1);
        }
        /* The format reported is the one classify names. */
        syntax_classify(out[k].text, country, cty, fmt);
        CHECK(strcmp(fmt, out[k].format) == 0 && strcmp(cty, out[k].country) == 0);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(out[j].text, out[k].text) != 0);
        /* Fitting answers before "other" ones. */
        if (k > 0 && strcmp(out[k - 1].format, "other") == 0)
            CHECK(strcmp(out[k].format, "other") == 0);
    }
    CHECK(total <= 1.0001);
    return m;
}

static int find(const syntax_result *out, int m, const char *text)
{
    for (int k = 0; k < m; k++)
        if (strcmp(out[k].text, text) == 0)
            return k;
    return -1;
}

static void test_distribution_settles_lookalikes(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    /* 0 read where GB current needs a letter; the network gives O 0.3. */
    plate_reading r = reading("AB12C0E", 0.99f);
    give(&r, 5, 'O', 0.3f);
    int m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2);
    CHECK(strcmp(out[0].text, "AB12COE") == 0);
    CHECK(strcmp(out[0].format, "gb-current") == 0);
    CHECK(strcmp(out[0].country, "gb") == 0);
    CHECK(fabsf(out[0].char_confidence[5] - r.prob[5][sym('O')]) < 1e-6f);
    CHECK(fabsf(out[0].char_confidence[0] - 0.99f) < 1e-6f);
    CHECK(strcmp(out[1].text, "AB12C0E") == 0);
    CHECK(out[0].confidence > out[1].confidence);

    /* With S at 0.02 the network is sure enough of the 5 to keep it (UK
     * formats carry a prior of 3 nats over the permissive ones). */
    r = reading("AB12C5E", 0.99f);
    give(&r, 5, 'S', 0.02f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12C5E") == 0);
    CHECK(find(out, m, "AB12CSE") > 0);
    /* Unless told the plate is British. */
    m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12CSE") == 0);
    CHECK(strcmp(out[m - 1].format, "other") == 0);

    /* Not so for 0 and O, which the UK typeface barely tells apart: one 0
     * where gb-current needs a letter becomes an O however sure the
     * network is of it... */
    r = reading("AB12C0E", 0.99f);
    give(&r, 5, 'O', 0.001f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12COE") == 0);
    CHECK(fabsf(out[0].char_confidence[5] - (float)SYNTAX_ZERO_O_P) < 1e-6f);
    /* ...but two need the network's own odds. */
    r = reading("AB12C00", 0.99f);
    give(&r, 5, 'O', 0.001f);
    give(&r, 6, 'O', 0.001f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12C00") == 0);
    CHECK(find(out, m, "AB12COO") > 0);

    /* The likeliest allowed letter is the network's, not a fixed table's:
     * here D at 0.25 beats O at 0.05. */
    r = reading("AB12CD0", 0.99f);
    give(&r, 6, 'O', 0.05f);
    give(&r, 6, 'D', 0.25f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "AB12CDD") == 0);

    /* A letter where GB current needs a digit; an alternative where the
     * read symbol already fits changes nothing. */
    r = reading("ABI2CDE", 0.9f);
    give(&r, 2, '1', 0.4f);
    give(&r, 3, 'Z', 0.1f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "AB12CDE") == 0);
}

static void test_confident_reading_stays(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    /* An American plate read with confidence, its lookalikes at 1-2%:
     * bending it into any GB or Brazilian format costs several of them. */
    plate_reading r = reading("6A5730A", 0.97f);
    give(&r, 0, 'G', 0.02f);
    give(&r, 2, 'S', 0.02f);
    give(&r, 5, 'O', 0.02f);
    give(&r, 6, '4', 0.01f);
    int m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "6A5730A") == 0);
    CHECK(strcmp(out[0].format, "eu") == 0 || strcmp(out[0].format, "us") == 0);
    /* Its confidence is close to the network's probability of it. */
    CHECK(fabs(out[0].confidence - exp(r.logp)) < 0.02);

    /* The same reading under --country us. */
    m = rank(&r, 1, ANPR_COUNTRY_US, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 1 && strcmp(out[0].format, "us") == 0);
    CHECK(fabs(out[0].confidence - exp(r.logp)) < 1e-4);

    /* A valid GB plate read confidently keeps its text and format. */
    r = reading("BD51SMR", 0.98f);
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "BD51SMR") == 0);
    CHECK(strcmp(out[0].format, "gb-current") == 0);
    CHECK(out[0].confidence >= exp(r.logp) - 1e-4);
}

/* Outside the GB formats an O the network barely prefers to 0 is read as
 * 0, while a clear O stays. */
static void test_permissive_o(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    plate_reading r = reading("DKOH7Z", 0.95f);
    give(&r, 2, '0', 0.43f);   /* O 0.52, 0 0.43: within the 0.3-nat cost */
    int m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "DK0H7Z") == 0, "got %s", m ? out[0].text : "-");
    r = reading("DKOH7Z", 0.95f);
    give(&r, 2, '0', 0.20f);   /* O 0.75, 0 0.20 */
    m = rank(&r, 1, ANPR_COUNTRY_US, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "DKOH7Z") == 0 && strcmp(out[0].format, "us") == 0);
}

static void test_country_forcing(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    plate_reading r = reading("ABC1D23", 0.95f);
    int m = rank(&r, 1, ANPR_COUNTRY_BR, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && strcmp(out[0].text, "ABC1D23") == 0);
    CHECK(strcmp(out[0].format, "br-mercosur") == 0 && strcmp(out[0].country, "br") == 0);
    m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
    /* Forced to GB, a lookalike makes it a dateless mark; as read it
     * fits nothing and comes last. */
    CHECK(m == 2 && strcmp(out[0].text, "ABC1023") == 0);
    CHECK(strcmp(out[0].format, "gb-dateless") == 0);
    CHECK(strcmp(out[1].text, "ABC1D23") == 0);
    CHECK(strcmp(out[1].format, "other") == 0 && out[1].country[0] == '\0');

    /* Brazil: 0 or D in Mercosur's letter slot; both formats stay in play. */
    r = reading("ABC1023", 0.95f);
    give(&r, 4, 'D', 0.5f);
    m = rank(&r, 1, ANPR_COUNTRY_BR, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 2);
    CHECK(strcmp(out[0].text, "ABC1D23") == 0 && strcmp(out[0].format, "br-mercosur") == 0);
    CHECK(strcmp(out[1].text, "ABC1023") == 0 && strcmp(out[1].format, "br-old") == 0);

    /* A format from another country is not considered. */
    r = reading("AB12C0E", 0.99f);
    give(&r, 5, 'O', 0.3f);
    m = rank(&r, 1, ANPR_COUNTRY_BR, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 1 && strcmp(out[0].text, "AB12C0E") == 0);
    CHECK(strcmp(out[0].format, "other") == 0);
    m = rank(&r, 1, ANPR_COUNTRY_EU, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 1 && strcmp(out[0].text, "AB12C0E") == 0 && strcmp(out[0].format, "eu") == 0);
}

static void test_one_hot_fallback(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    /* A one-hot distribution: only the table of lookalikes can help. */
    plate_reading r = reading("AB12C5E", 1.0f);
    int m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12CSE") == 0);
    CHECK(strcmp(out[0].format, "gb-current") == 0);
    CHECK(fabsf(out[0].char_confidence[5] - (float)SYNTAX_LOOKALIKE_P) < 1e-6f);
    CHECK(strcmp(out[m - 1].text, "AB12C5E") == 0 && strcmp(out[m - 1].format, "other") == 0);
    /* Left to itself, a certain reading is not bent. */
    m = rank(&r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12C5E") == 0);
    CHECK(find(out, m, "AB12CSE") > 0);

    /* No distribution at all reads as one-hot. */
    r = reading("AB12C0E", 1.0f);
    memset(r.prob, 0, sizeof r.prob);
    m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12COE") == 0);
    CHECK(out[0].char_confidence[0] == 1.0f);

    /* Each lookalike in turn; Q, never first, becomes O, not D. The
     * fewest rewrites win, whichever format they lead to. */
    static const struct { const char *read, *want, *format; } fixes[] = {
        { "QBL2ABC", "OB12ABC", "gb-current" },
        { "AB12C5E", "AB12CSE", "gb-current" },
        { "4B12CDE", "AB12CDE", "gb-current" },
        { "AB12C7E", "AB12CTE", "gb-current" },
        { "AB1ZCDE", "AB12CDE", "gb-current" },
        { "AB12C6E", "AB12CGE", "gb-current" },
        { "A6I2CDE", "A612CDE", "gb-prefix" },  /* one rewrite, not two */
        { "A812CDE", "A812CDE", "gb-prefix" },   /* fits as read */
        { "ABC1235", "ABC1235", "gb-dateless" }, /* likewise */
        { "ABCI23S", "ABC123S", "gb-suffix" },
        { "6A5730A", "GAS730A", "gb-suffix" },
    };
    for (size_t k = 0; k < sizeof fixes / sizeof fixes[0]; k++) {
        r = reading(fixes[k].read, 1.0f);
        m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
        if (m < 1 || strcmp(out[0].text, fixes[k].want) != 0
            || strcmp(out[0].format, fixes[k].format) != 0) {
            fprintf(stderr, "%s:%d: %s ranked %s %s first, expected %s %s\n",
                    __FILE__, __LINE__, fixes[k].read, m ? out[0].text : "-",
                    m ? out[0].format : "-", fixes[k].want, fixes[k].format);
            failures++;
        }
    }
    /* 3 has no lookalike: nothing fits but as read. */
    r = reading("3A5730A", 1.0f);
    m = rank(&r, 1, ANPR_COUNTRY_GB, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 1 && strcmp(out[0].text, "3A5730A") == 0 && strcmp(out[0].format, "other") == 0);
    m = rank(&r, 1, ANPR_COUNTRY_BR, out, ANPR_MAX_CANDIDATES);
    CHECK(m == 1 && strcmp(out[0].format, "other") == 0);
}

static void test_beam(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    plate_reading r[3];
    /* Two beams that rewrite to one text: it appears once. */
    r[0] = reading("A812CDE", 0.9f);
    give(&r[0], 1, 'B', 0.4f);
    r[1] = reading("AB12CDE", 0.9f);
    give(&r[1], 1, '8', 0.4f);
    r[1].logp = r[0].logp;
    int m = rank(r, 2, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 2 && strcmp(out[0].text, "AB12CDE") == 0);
    CHECK(find(out, m, "A812CDE") > 0);
    /* The likelier route counts: B as read (0.5), not as rewritten (0.4). */
    CHECK(fabsf(out[0].char_confidence[1] - r[1].prob[1][sym('B')]) < 1e-6f);

    /* A plausible age identifier outranks an implausible one, and a beam
     * of a different length competes on equal terms. */
    r[0] = reading("AB92CDE", 0.95f);
    r[1] = reading("AB12CDE", 0.95f);
    r[2] = reading("AB12CDEF", 0.95f);
    m = rank(r, 3, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 3 && strcmp(out[0].text, "AB12CDE") == 0 && strcmp(out[1].text, "AB92CDE") == 0);
    CHECK(strcmp(out[2].text, "AB12CDEF") == 0);
    CHECK(strcmp(out[1].format, "gb-current") == 0);
    CHECK(out[0].confidence > out[1].confidence && out[1].confidence > out[2].confidence);

    /* max_out caps the answers, best first. */
    m = rank(r, 3, ANPR_COUNTRY_AUTO, out, 1);
    CHECK(m == 1 && strcmp(out[0].text, "AB12CDE") == 0);
    /* An unsure network gives an unsure answer, even with a format. */
    r[0] = reading("AB12CDE", 0.6f);
    m = rank(r, 1, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m >= 1 && out[0].confidence < 0.1f);
}

static void test_hostile(void)
{
    syntax_result out[ANPR_MAX_CANDIDATES];
    plate_reading r = reading("AB12CDE", 0.9f);
    CHECK(syntax_rank(NULL, 1, ANPR_COUNTRY_AUTO, out, 4) == 0);
    CHECK(syntax_rank(&r, 1, ANPR_COUNTRY_AUTO, NULL, 4) == 0);
    CHECK(syntax_rank(&r, 0, ANPR_COUNTRY_AUTO, out, 4) == 0);
    CHECK(syntax_rank(&r, -5, ANPR_COUNTRY_AUTO, out, 4) == 0);
    CHECK(syntax_rank(&r, 1, ANPR_COUNTRY_AUTO, out, 0) == 0);
    CHECK(syntax_rank(&r, 1, ANPR_COUNTRY_AUTO, out, -1) == 0);

    int bad_len[] = { 0, -3, ANPR_MAX_TEXT, ANPR_MAX_TEXT + 100, INT_MAX, INT_MIN };
    for (size_t k = 0; k < sizeof bad_len / sizeof bad_len[0]; k++) {
        r = reading("AB12CDE", 0.9f);
        r.len = bad_len[k];
        CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) == 0);
    }
    /* The longest text allowed is still fine. */
    r = reading("ABCDEFGHJKLMNPR", 0.99f);
    CHECK(r.len == ANPR_MAX_TEXT - 1);
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) == 1 && strcmp(out[0].format, "other") == 0);
    /* Not NUL-terminated: len decides. */
    memset(r.text, 'A', sizeof r.text);
    memset(r.prob, 0, sizeof r.prob);
    r.len = 3;
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) >= 1 && strcmp(out[0].text, "AAA") == 0);

    /* Lower case is read as upper case. */
    r = reading("AB12CDE", 0.95f);
    memcpy(r.text, "ab12cde", 7);
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) >= 1 && strcmp(out[0].text, "AB12CDE") == 0);

    /* A reading with bytes outside the alphabet is ignored; others stand. */
    plate_reading two[2] = { reading("AB12CDE", 0.9f), reading("AB12CDE", 0.9f) };
    two[0].text[3] = ' ';
    CHECK(rank(two, 1, ANPR_COUNTRY_AUTO, out, 4) == 0);
    two[0].text[3] = '\xff';
    CHECK(rank(two, 1, ANPR_COUNTRY_AUTO, out, 4) == 0);
    two[0].text[3] = '\0';
    CHECK(rank(two, 2, ANPR_COUNTRY_AUTO, out, 4) >= 1 && strcmp(out[0].text, "AB12CDE") == 0);

    /* Nonsense numbers: NaN logp is ignored, others are clamped. */
    r = reading("AB12CDE", 0.9f);
    r.logp = NAN;
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) == 0);
    r.logp = INFINITY;
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) >= 1);
    r.logp = -INFINITY;
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) >= 1 && out[0].confidence == 0);
    r = reading("AB12C0E", 0.9f);
    r.prob[5][sym('O')] = NAN;
    r.prob[5][sym('D')] = -1;
    r.prob[5][sym('Q')] = 1e30f;
    r.prob[5][sym('0')] = NAN;
    CHECK(rank(&r, 1, ANPR_COUNTRY_AUTO, out, 4) >= 1);
    CHECK(rank(&r, 1, (anpr_country)-7, out, 4) == 1 && strcmp(out[0].format, "other") == 0);

    /* Many readings: the candidate cap holds, the best survive. */
    static plate_reading many[200];
    for (int k = 0; k < 200; k++) {
        char t[8];
        snprintf(t, sizeof t, "%c%c%03dX", 'A' + k % 26, 'A' + k / 26, k);
        many[k] = reading(t, 0.5f);
    }
    many[150] = reading("AB12CDE", 0.99f);
    int m = rank(many, 200, ANPR_COUNTRY_AUTO, out, ANPR_MAX_CANDIDATES);
    CHECK(m == ANPR_MAX_CANDIDATES && strcmp(out[0].text, "AB12CDE") == 0);
}

static void test_equivalence(void)
{
    CHECK(syntax_equivalent("AB12CDE", "AB12CDE", 0));
    CHECK(syntax_equivalent("AB12CDE", "A812CDE", 1));
    CHECK(!syntax_equivalent("AB12CDE", "A812CDE", 0));
    CHECK(!syntax_equivalent("AB12CDE", "A812C0E", 1));
    CHECK(syntax_equivalent("AB12CDE", "A812C0E", 2));
    CHECK(syntax_equivalent("ab12cde", "AB12CDE", 0));
    CHECK(syntax_equivalent("OQDO", "0000", 4));
    CHECK(syntax_equivalent("I1L", "LI1", 3));
    CHECK(syntax_equivalent("Z5G", "2S6", 3));
    CHECK(!syntax_equivalent("AB12CDE", "AB13CDE", 5));  /* 2 and 3 differ */
    CHECK(!syntax_equivalent("A", "4", 1));              /* not an OCR class */
    CHECK(!syntax_equivalent("7", "T", 1));
    CHECK(!syntax_equivalent("O", "I", 1));              /* different classes */
    CHECK(!syntax_equivalent("AB12CDE", "AB12CD", 5));
    CHECK(!syntax_equivalent("AB12CD", "AB12CDE", 5));
    CHECK(!syntax_equivalent("", "0", 5));
    CHECK(syntax_equivalent("", "", 0));
    CHECK(!syntax_equivalent(NULL, "A", 1));
    CHECK(!syntax_equivalent("A", NULL, 1));
    CHECK(!syntax_equivalent("A", "A", -1));
    CHECK(!syntax_equivalent("A B", "A-B", 3));

    char buf[64];
    syntax_canonical("AB12 cde", buf);
    CHECK(strcmp(buf, "A812 C0E") == 0);
    syntax_canonical("OQDIL ZSBG 0125868", buf);
    CHECK(strcmp(buf, "00011 2586 0125868") == 0);
    syntax_canonical("", buf);
    CHECK(buf[0] == '\0');
    strcpy(buf, "bd51smr");
    syntax_canonical(buf, buf);
    CHECK(strcmp(buf, "80515MR") == 0);

    /* Canonical forms agree exactly when the texts are equivalent. */
    const char pool[] = "0ODQ1IL2Z5S8B6GAEX4 ";
    srand(1);
    for (int t = 0; t < 20000; t++) {
        char a[6], b[6], ca[6], cb[6];
        int n = 1 + rand() % 5;
        for (int i = 0; i < n; i++) {
            a[i] = pool[rand() % (int)(sizeof pool - 1)];
            b[i] = rand() % 3 ? a[i] : pool[rand() % (int)(sizeof pool - 1)];
        }
        a[n] = b[n] = '\0';
        syntax_canonical(a, ca);
        syntax_canonical(b, cb);
        CHECK(syntax_equivalent(a, b, INT_MAX) == (strcmp(ca, cb) == 0));
        CHECK(syntax_equivalent(a, b, INT_MAX) == syntax_equivalent(b, a, INT_MAX));
    }
}

int main(void)
{
    test_classify_gb();
    test_classify_others();
    test_distribution_settles_lookalikes();
    test_confident_reading_stays();
    test_permissive_o();
    test_country_forcing();
    test_one_hot_fallback();
    test_beam();
    test_hostile();
    test_equivalence();
    if (failures) {
        fprintf(stderr, "test_syntax: %d failures\n", failures);
        return 1;
    }
    puts("test_syntax: ok");
    return 0;
}
