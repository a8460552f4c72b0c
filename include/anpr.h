/*
 * anpr.h: the public interface of libanpr, the number plate reader.
 *
 * This is the only header a program needs. Everything not declared here is
 * private to the library and may change. An engine holds the networks and
 * is read-only once made, so one engine may be shared by several threads;
 * each call borrows a private workspace, so after the first few calls
 * reading a grey frame allocates nothing (decoding a JPEG or PNG allocates
 * its pixels).
 *
 *   anpr_engine *e;
 *   char err[256];
 *   if (anpr_engine_new(NULL, &e, err, sizeof err) != ANPR_OK) ... err ...
 *   anpr_result r;
 *   if (anpr_read_file(e, "car.jpg", &r) == ANPR_OK)
 *       for (int i = 0; i < r.n_plates; i++) puts(r.plates[i].text);
 *   else ... r.error ...
 *   anpr_engine_free(e);
 */
#ifndef ANPR_H
#define ANPR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ANPR_VERSION "0.1.0"

typedef struct anpr_engine anpr_engine;

/* Every fallible call returns one of these; anpr_strerror() names it. */
typedef enum anpr_code {
    ANPR_OK = 0,
    ANPR_ERR_ARG,         /* a bad argument from the caller */
    ANPR_ERR_NOMEM,       /* out of memory */
    ANPR_ERR_IO,          /* a file could not be opened or read */
    ANPR_ERR_IMAGE,       /* not a JPEG or PNG, or a corrupt or truncated one */
    ANPR_ERR_TOO_LARGE,   /* the image has more pixels than the limit */
    ANPR_ERR_MODEL,       /* a weight file is corrupt or of the wrong kind */
    ANPR_ERR_UNSUPPORTED  /* a valid input this build cannot handle */
} anpr_code;

/* A short human description of a code; never NULL. */
const char *anpr_strerror(anpr_code code);

/* Which plate syntax steers the reading. AUTO tries them all. */
typedef enum anpr_country {
    ANPR_COUNTRY_AUTO = 0,
    ANPR_COUNTRY_GB,
    ANPR_COUNTRY_BR,
    ANPR_COUNTRY_US,
    ANPR_COUNTRY_EU
} anpr_country;

/* Parses "auto", "gb", "br", "us" or "eu"; returns -1 for anything else. */
int anpr_country_parse(const char *name);

/* How the networks do their arithmetic. */
typedef enum anpr_precision {
    ANPR_PRECISION_AUTO = 0,    /* the recogniser in int8 where the CPU has fast int8
                                   products (x86-64 AVX-512 VNNI), else float */
    ANPR_PRECISION_FLOAT        /* float throughout: the reference */
} anpr_precision;

/*
 * Engine settings. Start from anpr_options_default() and change fields; a
 * NULL options pointer means the defaults.
 */
typedef struct anpr_options {
    anpr_country country;       /* default AUTO */
    uint64_t max_pixels;        /* refuse images larger than this; 0 = default (50 MP) */
    float min_confidence;       /* drop plates below this (0..1); default 0 */
    int max_candidates;         /* alternatives kept per plate, 1..ANPR_MAX_CANDIDATES; default 10 */
    int whole_plate;            /* nonzero: each image is one plate crop, no detection */
    const char *recogniser_path; /* NULL: the built-in recogniser */
    const char *detector_path;   /* NULL: the built-in detector */
    const char *refiner_path;    /* NULL: the built-in corner refiner */
    anpr_precision precision;   /* default AUTO */
    int min_chars;              /* drop plates found in a photo whose text is shorter;
                                   default 3, 0 keeps all; crops (whole_plate) keep all */
} anpr_options;

void anpr_options_default(anpr_options *opt);

#define ANPR_MAX_TEXT 16
#define ANPR_MAX_CANDIDATES 10

typedef struct anpr_candidate {
    char text[ANPR_MAX_TEXT];   /* upper case letters and digits, no spaces */
    float confidence;           /* 0..1 */
} anpr_candidate;

typedef struct anpr_plate {
    char text[ANPR_MAX_TEXT];           /* the best reading */
    float confidence;                   /* 0..1, of the whole reading */
    float char_confidence[ANPR_MAX_TEXT]; /* per character of text */
    char country[4];                    /* "gb", "br", "us", "eu" or "" */
    char format[24];                    /* e.g. "gb-current", "br-mercosur", "other" */
    float box[4][2];                    /* corners in image pixels: TL, TR, BR, BL */
    float detection_score;              /* 0..1; 1 for --whole-plate */
    int n_candidates;
    anpr_candidate candidates[ANPR_MAX_CANDIDATES]; /* best first; [0] is text */
} anpr_plate;

#define ANPR_MAX_PLATES 32

typedef struct anpr_result {
    int n_plates;
    anpr_plate plates[ANPR_MAX_PLATES]; /* best confidence first */
    int width, height;          /* of the image as read (after EXIF rotation) */
    double ms;                  /* time spent reading, decode included */
    char error[256];            /* why the call failed, when it did */
} anpr_result;

/*
 * Makes an engine. On failure returns a code, leaves *out NULL and writes a
 * message a person can act on into err (if err is not NULL).
 */
anpr_code anpr_engine_new(const anpr_options *opt, anpr_engine **out,
                          char *err, size_t errlen);
void anpr_engine_free(anpr_engine *e);

/*
 * Reads plates from a JPEG or PNG held in memory, a file ("-" is standard
 * input), or a grey-scale pixel plane (rows of `stride` bytes, as from a
 * video decoder). Each fills *res, which owns no memory: nothing needs
 * freeing. On failure res->error says why and res->n_plates is 0.
 */
anpr_code anpr_read_memory(anpr_engine *e, const void *data, size_t len,
                           anpr_result *res);
anpr_code anpr_read_file(anpr_engine *e, const char *path, anpr_result *res);
anpr_code anpr_read_gray(anpr_engine *e, const uint8_t *pixels, int width,
                         int height, int stride, anpr_result *res);

#ifdef __cplusplus
}
#endif

#endif /* ANPR_H */
