/*
 * recog.h: reading the characters of one plate.
 *
 * A plate quadrilateral in a grey image is rectified into the recogniser's
 * input (two-line plates, those squarer than the network's two_line_aspect,
 * have their halves laid side by side; a plate a little wider that reads
 * unsurely as one line is read that way too), the network scores every
 * symbol at every column, a CTC prefix beam search keeps the likeliest
 * readings, and the plate syntax (syntax.h) ranks them into the answer and
 * its alternatives. The preparation matches train/rec_data.py:prepare().
 */
#ifndef ANPR_RECOG_H
#define ANPR_RECOG_H

#include "anpr.h"
#include "nn.h"

typedef struct recog_work recog_work;

/* Checks that net is a recogniser this code can drive (kind, alphabet,
 * output shape). Returns 0, or -1 with a reason in err. */
int recog_check(const nn_net *net, char *err, size_t errlen);

/* Scratch space for one thread's readings; reused, so reading allocates
 * nothing once warm. NULL when out of memory. */
recog_work *recog_work_new(void);
void recog_work_free(recog_work *w);

/*
 * Reads the plate inside quad q (TL, TR, BR, BL, image pixels) of a grey
 * image. Fills out's text, confidences, country, format and candidates (up
 * to max_cand); the box is left to the caller. span receives where the
 * characters lie across a one-line plate: the centres of the first and
 * last columns the network does not call blank, as fractions of the quad's
 * width from its left edge ({0, 1} for a two-line plate or no character).
 * Returns ANPR_OK, or a code with a reason in err.
 */
int recog_read(const nn_net *net, recog_work *w, const uint8_t *gray, int width,
               int height, int stride, const float q[4][2], anpr_country country,
               int max_cand, anpr_plate *out, float span[2], char *err, size_t errlen);

#endif
