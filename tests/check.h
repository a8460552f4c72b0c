/*
 * check.h: the one assertion every test program uses.
 *
 *   CHECK(cond);                       on failure prints file:line and cond
 *   CHECK(cond, "got %d", value);      ... and a printf-style note
 *   REQUIRE(cond);                     a CHECK that ends the test on failure
 *
 * A failed check is counted in `failures` and the test goes on, so one run
 * reports every fault; main() returns nonzero when failures is nonzero.
 */
#ifndef ANPR_TEST_CHECK_H
#define ANPR_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

static void check_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

#define CHECK(...) CHECK_AT(__VA_ARGS__, "")
#define CHECK_AT(cond, ...)                                                \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "%s:%d: check failed: %s ", __FILE__,         \
                    __LINE__, #cond);                                      \
            check_note(__VA_ARGS__);                                       \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* Stops the test: later checks would only repeat the failure. */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        int required_ = failures;                                            \
        CHECK(cond);                                                         \
        if (failures != required_)                                           \
            exit(1);                                                         \
    } while (0)

#endif
