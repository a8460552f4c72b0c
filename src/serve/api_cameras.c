/*
 * api_cameras.c: the camera registry: register or update a camera (name,
 * position, bearing, owner, purpose, installation date), show one, list
 * them. Reads must name a registered camera.
 */
#include "api.h"

#include "jsonin.h"
#include "jsonout.h"
#include "valid.h"
#include "when.h"

#include <stdio.h>
#include <string.h>

/* Fills cam's fields from a request body; 0, or -1 with err set. */
static int parse_camera(json_t *body, store_camera *cam, char *err)
{
    json_t *pos = json_object_get(body, "position");
    if (pos && !json_is_object(pos)) {
        snprintf(err, JSONIN_ERR, "'position' must be an object {\"lat\": .., \"lon\": ..}");
        return -1;
    }
    json_t *where = pos ? pos : body;
    return jsonin_text(body, "name", 0, cam->name, sizeof cam->name - 1, err)
        || jsonin_number(where, "lat", 0, -90, 90, &cam->lat, err)
        || jsonin_number(where, "lon", 0, -180, 180, &cam->lon, err)
        || jsonin_number(body, "bearing", 0, 0, 360, &cam->bearing, err)
        || jsonin_text(body, "owner", 0, cam->owner, sizeof cam->owner - 1, err)
        || jsonin_text(body, "purpose", 0, cam->purpose, sizeof cam->purpose - 1, err)
        || jsonin_time(body, "installed", 0, &cam->installed_ms, err) ? -1 : 0;
}

void api_cameras_put(api_call *c)
{
    if (!valid_id(c->arg[0])) {
        http_error(c->r, 400, "a camera ID is 1 to 64 of A-Z a-z 0-9 . _ : -");
        return;
    }
    json_t *body = api_body(c);
    if (!body)
        return;
    store_camera cam;
    memset(&cam, 0, sizeof cam);
    snprintf(cam.id, sizeof cam.id, "%s", c->arg[0]);
    char err[JSONIN_ERR];
    int bad = parse_camera(body, &cam, err);
    json_decref(body);
    if (bad) {
        http_error(c->r, 400, "%s", err);
        return;
    }
    cam.created_ms = when_now_ms();
    store_code rc = c->srv->st->ops->put_camera(c->srv->st, &cam);
    if (rc != STORE_OK) {
        api_store_fail(c, rc);
        return;
    }
    if (c->srv->st->ops->get_camera(c->srv->st, cam.id, &cam) != STORE_OK) {
        api_store_fail(c, STORE_ERR);
        return;
    }
    http_json(c->r, 200, camera_json(&cam));
}

void api_cameras_get(api_call *c)
{
    store_camera cam;
    store_code rc = valid_id(c->arg[0]) ? c->srv->st->ops->get_camera(c->srv->st, c->arg[0], &cam)
                                        : STORE_NOTFOUND;
    if (rc != STORE_OK) {
        if (rc == STORE_NOTFOUND)
            store_set_error("no camera '%s'", c->arg[0]);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, camera_json(&cam));
}

static int add_camera(void *ctx, const store_camera *cam)
{
    json_array_append_new(ctx, camera_json(cam));
    return 0;
}

void api_cameras_list(api_call *c)
{
    json_t *list = json_array();
    store_code rc = c->srv->st->ops->list_cameras(c->srv->st, add_camera, list);
    if (rc != STORE_OK) {
        json_decref(list);
        api_store_fail(c, rc);
        return;
    }
    http_json(c->r, 200, json_pack("{s:o}", "cameras", list));
}
