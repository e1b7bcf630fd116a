/* Time-scripted scenarios shared by the fake GPU libraries (fake_nvml.c, fake_amdsmi.c).
 *
 * A scenario file is plain text, one directive per line, '#' starts a comment:
 *
 *   system driver=550.54.15 nvml=12.550.54.15 cuda=12040
 *   gpu 0 name="NVIDIA H100 80GB HBM3" uuid=GPU-0 bus=00000000:18:00.0 sm_max=1980 ...
 *   at 0   gpu=0 temp=55 sm=1980 power=320 reasons=
 *   at 2.0 gpu=0 temp=88 sm=1410 reasons=SwThermalSlowdown,HwThermalSlowdown
 *   lost gpu=0 at=3.0
 *   hang gpu=0 call=temperature at=1.0 for=3
 *
 * "at T" lines add keyframes: each key of a device is a track; numeric tracks interpolate
 * linearly between their keyframes (constant before the first and after the last), the
 * "reasons" track is a step function. "system loop=L" repeats the script every L seconds
 * (counters such as energy keep growing). "hang" makes the first call of that kind on that GPU
 * made at or after time "at" ("after=N": the N-th such call) block for "for" seconds ("for=inf",
 * or no "for": forever), as a hung driver does; each library names its calls (sc_hang). The "gpu" attribute
 * "counters_reset_at=T" restarts the energy and violation counters from 0 at T (a driver
 * reload, a GPU reset): they go backwards there. Time is seconds since the epoch: FAKE_GPU_EPOCH_NS
 * (a CLOCK_MONOTONIC time in ns, the clock of Python's time.perf_counter_ns) if set, else the
 * moment the scenario was loaded. Static keys on "gpu N" lines are stored as name=value text
 * and looked up by the library that needs them.
 */
#ifndef FAKE_SCENARIO_H
#define FAKE_SCENARIO_H

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SC_MAX_GPUS 8
#define SC_MAX_TRACKS 24
#define SC_MAX_FRAMES 128
#define SC_MAX_ATTRS 48
#define SC_TEXT 128
#define SC_MAX_HANGS 4

typedef struct {
    char key[32];
    int n;
    double t[SC_MAX_FRAMES];
    double v[SC_MAX_FRAMES];
} sc_track_t;

typedef struct {
    char call[32];
    double at;
    double seconds; /* < 0: forever */
    int after;      /* the call that blocks: the after-th of its kind (from 1) at or after "at" */
    int calls;
    int used;
} sc_hang_t;

typedef struct {
    int present;
    int n_attrs;
    char attr_key[SC_MAX_ATTRS][32];
    char attr_val[SC_MAX_ATTRS][SC_TEXT];
    int n_tracks;
    sc_track_t tracks[SC_MAX_TRACKS];
    double lost_at; /* < 0: never */
    int n_hangs;
    sc_hang_t hangs[SC_MAX_HANGS];
} sc_gpu_t;

typedef struct {
    int loaded;
    int n_gpus;
    int n_sys;
    char sys_key[SC_MAX_ATTRS][32];
    char sys_val[SC_MAX_ATTRS][SC_TEXT];
    sc_gpu_t gpus[SC_MAX_GPUS];
    int64_t epoch_ns;
    double loop; /* > 0: the script repeats with this period (s) */
    char path[512];
} sc_scenario_t;

static double sc_loop; /* the loaded scenario's loop period, used by the lookups below */

/* Converts a reasons text ("A,B" or "0x44") to a bit mask; provided by each library. */
static uint64_t sc_parse_reasons(const char *text);

static int64_t sc_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double sc_seconds(const sc_scenario_t *sc) { return (double)(sc_now_ns() - sc->epoch_ns) / 1e9; }

/* Splits a line into tokens; a value may be double-quoted ("a b"). Returns the token count. */
static int sc_tokens(char *line, char **out, int max) {
    int n = 0;
    char *p = line;
    while (*p && n < max) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p || *p == '#') break;
        out[n++] = p;
        int quoted = 0;
        char *w = p;
        while (*p && (quoted || !isspace((unsigned char)*p))) {
            if (*p == '"') {
                quoted = !quoted;
                p++;
                continue;
            }
            *w++ = *p++;
        }
        if (*p) p++;
        *w = '\0';
    }
    return n;
}

static sc_track_t *sc_track(sc_gpu_t *gpu, const char *key, int create) {
    for (int i = 0; i < gpu->n_tracks; i++)
        if (strcmp(gpu->tracks[i].key, key) == 0) return &gpu->tracks[i];
    if (!create || gpu->n_tracks >= SC_MAX_TRACKS) return NULL;
    sc_track_t *tr = &gpu->tracks[gpu->n_tracks++];
    memset(tr, 0, sizeof(*tr));
    snprintf(tr->key, sizeof(tr->key), "%s", key);
    return tr;
}

static void sc_add_frame(sc_track_t *tr, double t, double v) {
    if (tr->n >= SC_MAX_FRAMES) return;
    int i = tr->n++;
    while (i > 0 && tr->t[i - 1] > t) { /* keep keyframes sorted by time */
        tr->t[i] = tr->t[i - 1];
        tr->v[i] = tr->v[i - 1];
        i--;
    }
    tr->t[i] = t;
    tr->v[i] = v;
}

static int sc_load(sc_scenario_t *sc, const char *path) {
    memset(sc, 0, sizeof(*sc));
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    snprintf(sc->path, sizeof(sc->path), "%s", path);
    for (int g = 0; g < SC_MAX_GPUS; g++) sc->gpus[g].lost_at = -1.0;
    char line[2048];
    char *tok[64];
    while (fgets(line, sizeof(line), f)) {
        int n = sc_tokens(line, tok, 64);
        if (n == 0) continue;
        if (strcmp(tok[0], "system") == 0) {
            for (int i = 1; i < n && sc->n_sys < SC_MAX_ATTRS; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq) continue;
                *eq = '\0';
                snprintf(sc->sys_key[sc->n_sys], 32, "%s", tok[i]);
                snprintf(sc->sys_val[sc->n_sys], SC_TEXT, "%s", eq + 1);
                sc->n_sys++;
            }
        } else if (strcmp(tok[0], "gpu") == 0 && n >= 2) {
            int g = atoi(tok[1]);
            if (g < 0 || g >= SC_MAX_GPUS) continue;
            sc_gpu_t *gpu = &sc->gpus[g];
            gpu->present = 1;
            if (g + 1 > sc->n_gpus) sc->n_gpus = g + 1;
            for (int i = 2; i < n && gpu->n_attrs < SC_MAX_ATTRS; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq) continue;
                *eq = '\0';
                snprintf(gpu->attr_key[gpu->n_attrs], 32, "%s", tok[i]);
                snprintf(gpu->attr_val[gpu->n_attrs], SC_TEXT, "%s", eq + 1);
                gpu->n_attrs++;
            }
        } else if (strcmp(tok[0], "at") == 0 && n >= 2) {
            double t = atof(tok[1]);
            int g = 0;
            for (int i = 2; i < n; i++)
                if (strncmp(tok[i], "gpu=", 4) == 0) g = atoi(tok[i] + 4);
            if (g < 0 || g >= SC_MAX_GPUS) continue;
            for (int i = 2; i < n; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq || strncmp(tok[i], "gpu=", 4) == 0) continue;
                *eq = '\0';
                sc_track_t *tr = sc_track(&sc->gpus[g], tok[i], 1);
                if (!tr) continue;
                double v = strcmp(tok[i], "reasons") == 0 ? (double)sc_parse_reasons(eq + 1) : atof(eq + 1);
                sc_add_frame(tr, t, v);
            }
        } else if (strcmp(tok[0], "lost") == 0) {
            int g = 0;
            double at = 0.0;
            for (int i = 1; i < n; i++) {
                if (strncmp(tok[i], "gpu=", 4) == 0) g = atoi(tok[i] + 4);
                if (strncmp(tok[i], "at=", 3) == 0) at = atof(tok[i] + 3);
            }
            if (g >= 0 && g < SC_MAX_GPUS) sc->gpus[g].lost_at = at;
        } else if (strcmp(tok[0], "hang") == 0) {
            int g = 0;
            sc_hang_t hang = {"", 0.0, -1.0, 1, 0, 0};
            for (int i = 1; i < n; i++) {
                if (strncmp(tok[i], "gpu=", 4) == 0) g = atoi(tok[i] + 4);
                if (strncmp(tok[i], "call=", 5) == 0) snprintf(hang.call, sizeof(hang.call), "%s", tok[i] + 5);
                if (strncmp(tok[i], "at=", 3) == 0) hang.at = atof(tok[i] + 3);
                if (strncmp(tok[i], "after=", 6) == 0) hang.after = atoi(tok[i] + 6);
                if (strncmp(tok[i], "for=", 4) == 0) hang.seconds = strcmp(tok[i] + 4, "inf") == 0 ? -1.0 : atof(tok[i] + 4);
            }
            if (g >= 0 && g < SC_MAX_GPUS && sc->gpus[g].n_hangs < SC_MAX_HANGS) sc->gpus[g].hangs[sc->gpus[g].n_hangs++] = hang;
        }
    }
    fclose(f);
    const char *epoch = getenv("FAKE_GPU_EPOCH_NS");
    sc->epoch_ns = epoch && *epoch ? strtoll(epoch, NULL, 10) : sc_now_ns();
    for (int i = 0; i < sc->n_sys; i++)
        if (strcmp(sc->sys_key[i], "loop") == 0) sc->loop = atof(sc->sys_val[i]);
    sc_loop = sc->loop;
    sc->loaded = 1;
    return 0;
}

static const char *sc_sys(const sc_scenario_t *sc, const char *key, const char *fallback) {
    for (int i = 0; i < sc->n_sys; i++)
        if (strcmp(sc->sys_key[i], key) == 0) return sc->sys_val[i];
    return fallback;
}

static const char *sc_attr(const sc_gpu_t *gpu, const char *key, const char *fallback) {
    for (int i = 0; i < gpu->n_attrs; i++)
        if (strcmp(gpu->attr_key[i], key) == 0) return gpu->attr_val[i];
    return fallback;
}

static double sc_attr_num(const sc_gpu_t *gpu, const char *key, double fallback) {
    const char *v = sc_attr(gpu, key, NULL);
    return v ? atof(v) : fallback;
}

/* True when the comma-separated "unsupported=" list of the device names this feature. */
static int sc_unsupported(const sc_gpu_t *gpu, const char *feature) {
    const char *list = sc_attr(gpu, "unsupported", "");
    size_t len = strlen(feature);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, feature, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

/* Blocks the calling thread when a "hang" line says this call hangs now (once per line). */
__attribute__((unused)) static void sc_hang(const sc_scenario_t *sc, sc_gpu_t *gpu, const char *call) {
    for (int i = 0; i < gpu->n_hangs; i++) {
        sc_hang_t *hang = &gpu->hangs[i];
        if (hang->used || strcmp(hang->call, call) != 0 || sc_seconds(sc) < hang->at) continue;
        if (++hang->calls < hang->after) continue;
        hang->used = 1;
        if (hang->seconds < 0) {
            for (;;) sleep(1000);
        }
        struct timespec ts = {(time_t)hang->seconds, (long)((hang->seconds - (time_t)hang->seconds) * 1e9)};
        while (nanosleep(&ts, &ts) != 0) {
        }
    }
}

/* Seconds since the counters last restarted: the scenario time, or the time since counters_reset_at. */
__attribute__((unused)) static double sc_counter_origin(const sc_gpu_t *gpu, double t) {
    double reset = sc_attr_num(gpu, "counters_reset_at", -1.0);
    return reset >= 0 && t >= reset ? reset : 0.0;
}

static int sc_lost(const sc_scenario_t *sc, const sc_gpu_t *gpu) {
    return gpu->lost_at >= 0.0 && sc_seconds(sc) >= gpu->lost_at;
}

static int sc_has(const sc_gpu_t *gpu, const char *key) {
    sc_track_t *tr = sc_track((sc_gpu_t *)gpu, key, 0);
    return tr && tr->n > 0;
}

/* Linear interpolation of a numeric track at time t. */
static double sc_wrap(double t) { return sc_loop > 0 && t > 0 ? fmod(t, sc_loop) : t; }

static double sc_value_raw(const sc_gpu_t *gpu, const char *key, double t, double fallback) {
    sc_track_t *tr = sc_track((sc_gpu_t *)gpu, key, 0);
    if (!tr || tr->n == 0) return fallback;
    if (t <= tr->t[0]) return tr->v[0];
    for (int i = 1; i < tr->n; i++) {
        if (t <= tr->t[i]) {
            double span = tr->t[i] - tr->t[i - 1];
            double w = span > 0 ? (t - tr->t[i - 1]) / span : 1.0;
            return tr->v[i - 1] + w * (tr->v[i] - tr->v[i - 1]);
        }
    }
    return tr->v[tr->n - 1];
}

static double sc_value(const sc_gpu_t *gpu, const char *key, double t, double fallback) {
    return sc_value_raw(gpu, key, sc_wrap(t), fallback);
}

/* Step lookup (reasons): the value of the last keyframe at or before t, 0 before the first. */
static uint64_t sc_step(const sc_gpu_t *gpu, const char *key, double t) {
    sc_track_t *tr = sc_track((sc_gpu_t *)gpu, key, 0);
    if (!tr) return 0;
    t = sc_wrap(t);
    uint64_t v = 0;
    for (int i = 0; i < tr->n && tr->t[i] <= t; i++) v = (uint64_t)tr->v[i];
    return v;
}

/* Integral of a numeric track from 0 to t (value × seconds), piecewise linear, one pass. */
static double sc_integral_once(const sc_gpu_t *gpu, const char *key, double t) {
    sc_track_t *tr = sc_track((sc_gpu_t *)gpu, key, 0);
    if (!tr || tr->n == 0 || t <= 0) return 0.0;
    double total = 0.0, prev_t = 0.0, prev_v = sc_value_raw(gpu, key, 0.0, 0.0);
    for (int i = 0; i < tr->n && tr->t[i] < t; i++) {
        if (tr->t[i] <= 0) continue;
        total += (tr->t[i] - prev_t) * (prev_v + tr->v[i]) / 2.0;
        prev_t = tr->t[i];
        prev_v = tr->v[i];
    }
    double v_t = sc_value_raw(gpu, key, t, 0.0);
    total += (t - prev_t) * (prev_v + v_t) / 2.0;
    return total;
}

static double sc_integral(const sc_gpu_t *gpu, const char *key, double t) {
    if (sc_loop <= 0 || t <= sc_loop) return sc_integral_once(gpu, key, t);
    double loops = floor(t / sc_loop);
    return loops * sc_integral_once(gpu, key, sc_loop) + sc_integral_once(gpu, key, t - loops * sc_loop);
}

/* Seconds in [0, t] during which the step track "reasons" had any bit of mask set (one pass). */
static double sc_time_with_once(const sc_gpu_t *gpu, uint64_t mask, double t) {
    sc_track_t *tr = sc_track((sc_gpu_t *)gpu, "reasons", 0);
    if (!tr || t <= 0) return 0.0;
    double total = 0.0;
    for (int i = 0; i < tr->n; i++) {
        double start = tr->t[i] < 0 ? 0 : tr->t[i];
        double end = i + 1 < tr->n ? tr->t[i + 1] : t;
        if (end > t) end = t;
        if (end > start && ((uint64_t)tr->v[i] & mask)) total += end - start;
    }
    return total;
}

static double sc_time_with(const sc_gpu_t *gpu, uint64_t mask, double t) {
    if (sc_loop <= 0 || t <= sc_loop) return sc_time_with_once(gpu, mask, t);
    double loops = floor(t / sc_loop);
    return loops * sc_time_with_once(gpu, mask, sc_loop) + sc_time_with_once(gpu, mask, t - loops * sc_loop);
}

#endif
