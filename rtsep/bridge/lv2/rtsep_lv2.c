/* rtsep.lv2: an LV2 plugin that bridges a DAW track to the rtsep engine.
 *
 * instantiate() connects to `rtsep bridge` over a Unix socket, says the host's sample
 * rate and largest block, and gets back the name and layout of a shared-memory block
 * (rtsep.live.control.SharedBlock) whose rings an engine worker serves, and the
 * latency in samples. run() only copies: the input into the input ring, the output
 * ring into the five stereo outputs (vocals, drums, bass, other, instrumental). It
 * never allocates, locks or blocks, except when the host says it runs faster than
 * real time (the freeWheeling port, or `-c freewheel 1` for lv2apply): then it waits
 * for the engine's output, for at most FREEWHEEL_WAIT_NS while the engine's
 * heartbeat stands still. When the engine is late or gone, the missing output is
 * silence and the cycle counts as an underrun (the `underruns` output port and the
 * shared control words), as in `rtsep live`.
 *
 * The ring protocol is rtsep.live.ringbuf's: int64 positions that never wrap, the
 * writer publishes data before its position (release), the reader always advances
 * its position by the block (output position p always holds input p - latency).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <lv2/buf-size/buf-size.h>
#include <lv2/core/lv2.h>
#include <lv2/options/options.h>
#include <lv2/urid/urid.h>

#define RTSEP_URI "urn:rtsep:lv2:bridge"
#define N_STEREO_OUT 5
#define N_GAINS 5
#define GAIN_MIN_DB -120.0f /* rtsep.live.mixer.MIN_DB (silence) .. MAX_DB */
#define GAIN_MAX_DB 24.0f
#define FREEWHEEL_WAIT_NS 2000000000LL
#define HELLO_TIMEOUT_MS 600000 /* loading and warming a model can take a while */

enum {
    P_IN_L = 0, P_IN_R = 1,
    P_OUT0 = 2,                       /* 10 audio outputs: vocals L/R ... instrumental L/R */
    P_LATENCY = P_OUT0 + 2 * N_STEREO_OUT,
    P_UNDERRUNS,
    P_GAIN0,                          /* 5 gains (dB) */
    P_FREEWHEEL = P_GAIN0 + N_GAINS,
    N_PORTS
};

/* rtsep.live.control.Word and rtsep.live.ringbuf header slots */
enum { W_CYCLES = 2, W_UNDERRUNS = 3, W_MISSING = 4, W_HEARTBEAT = 21, W_CONTROL_SEQ = 23,
       W_RUN_NS = 26, W_RUN_NS_MAX = 27 };
enum { H_WRITE = 0, H_READ = 8, H_LOST = 16 };
enum { CONTROL_FIELDS = 3 };

typedef struct {
    float *port[N_PORTS];
    int fd;                 /* the socket to the bridge: open while the instance lives */
    uint8_t *mem;           /* the shared block */
    size_t size;
    int64_t *ctl;
    double *controls;
    int64_t *in_hdr, *out_hdr;
    float *in_data, *out_data;
    int64_t in_cap, out_cap, in_ch, out_ch;
    float latency;
    float underruns;        /* counted here too, so that it survives the engine */
    float gain_seen[N_GAINS];
    int engine_gone;        /* freewheel: stop waiting for an engine whose heartbeat stopped */
} Bridge;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int64_t load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static void socket_path(char *out, size_t n) {
    const char *env = getenv("RTSEP_BRIDGE_SOCKET");
    const char *run = getenv("XDG_RUNTIME_DIR");
    if (env && *env) snprintf(out, n, "%s", env);
    else if (run && *run) snprintf(out, n, "%s/rtsep-bridge.sock", run);
    else snprintf(out, n, "/tmp/rtsep-bridge-%u.sock", (unsigned)getuid());
}

static uint32_t block_length(const LV2_Feature *const *features) {
    LV2_URID_Map *map = NULL;
    const LV2_Options_Option *opts = NULL;
    for (int i = 0; features && features[i]; ++i) {
        if (!strcmp(features[i]->URI, LV2_URID__map)) map = features[i]->data;
        if (!strcmp(features[i]->URI, LV2_OPTIONS__options)) opts = features[i]->data;
    }
    uint32_t nominal = 0, max = 0;
    if (map && opts) {
        LV2_URID u_max = map->map(map->handle, LV2_BUF_SIZE__maxBlockLength);
        LV2_URID u_nom = map->map(map->handle, LV2_BUF_SIZE__nominalBlockLength);
        LV2_URID u_int = map->map(map->handle, "http://lv2plug.in/ns/ext/atom#Int");
        for (const LV2_Options_Option *o = opts; o->key; ++o) {
            if (o->type != u_int || !o->value) continue;
            if (o->key == u_max) max = (uint32_t)*(const int32_t *)o->value;
            if (o->key == u_nom) nominal = (uint32_t)*(const int32_t *)o->value;
        }
    }
    /* the latency must cover the blocks the host will run: its nominal block when it
       says one (JACK's period), else its largest, else 1024 */
    return nominal ? nominal : (max ? max : 1024);
}

static int read_line(int fd, char *buf, size_t n, int timeout_ms) {
    size_t k = 0;
    while (k + 1 < n) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r <= 0) return -1;
        ssize_t got = read(fd, buf + k, 1);
        if (got <= 0) return -1;
        if (buf[k] == '\n') { buf[k] = 0; return (int)k; }
        ++k;
    }
    return -1;
}

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features) {
    (void)d; (void)bundle;
    Bridge *b = calloc(1, sizeof(Bridge));
    if (!b) return NULL;
    b->fd = -1;
    for (int i = 0; i < N_GAINS; ++i) b->gain_seen[i] = NAN;
    char path[512], line[1024], name[256];
    socket_path(path, sizeof path);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    b->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (b->fd < 0 || connect(b->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "rtsep.lv2: no rtsep bridge answers at %s (%s); start one with "
                "'rtsep bridge'\n", path, strerror(errno));
        goto fail;
    }
    int len = snprintf(line, sizeof line, "hello %.0f %u\n", rate, block_length(features));
    if (write(b->fd, line, (size_t)len) != len) goto fail;
    if (read_line(b->fd, line, sizeof line, HELLO_TIMEOUT_MS) < 0) {
        fprintf(stderr, "rtsep.lv2: the rtsep bridge did not answer\n");
        goto fail;
    }
    long long latency, size, ctl, controls, ih, idt, icap, ich, oh, odt, ocap, och;
    if (sscanf(line, "ready %255s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld",
               name, &latency, &size, &ctl, &controls, &ih, &idt, &icap, &ich, &oh, &odt,
               &ocap, &och) != 13) {
        fprintf(stderr, "rtsep.lv2: the rtsep bridge refused: %s\n", line);
        goto fail;
    }
    int shm = shm_open(name, O_RDWR, 0);
    if (shm < 0) {
        fprintf(stderr, "rtsep.lv2: cannot open shared memory %s: %s\n", name, strerror(errno));
        goto fail;
    }
    void *mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, shm, 0);
    close(shm);
    if (mem == MAP_FAILED) goto fail;
    b->mem = mem;
    b->size = (size_t)size;
    b->ctl = (int64_t *)(b->mem + ctl);
    b->controls = (double *)(b->mem + controls);
    b->in_hdr = (int64_t *)(b->mem + ih);
    b->in_data = (float *)(b->mem + idt);
    b->in_cap = icap;
    b->in_ch = ich;
    b->out_hdr = (int64_t *)(b->mem + oh);
    b->out_data = (float *)(b->mem + odt);
    b->out_cap = ocap;
    b->out_ch = och;
    b->latency = (float)latency;
    return b;
fail:
    if (b->fd >= 0) close(b->fd);
    free(b);
    return NULL;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data) {
    if (port < N_PORTS) ((Bridge *)h)->port[port] = data;
}

static void follow_gains(Bridge *b) {
    int changed = 0;
    for (int i = 0; i < N_GAINS; ++i) {
        float g = b->port[P_GAIN0 + i] ? *b->port[P_GAIN0 + i] : 0.0f;
        g = g < GAIN_MIN_DB ? GAIN_MIN_DB : (g > GAIN_MAX_DB ? GAIN_MAX_DB : g);
        if (g != b->gain_seen[i]) {
            b->gain_seen[i] = g;
            b->controls[i * CONTROL_FIELDS] = (double)g;  /* row i, column gain (dB) */
            changed = 1;
        }
    }
    if (changed)  /* the worker re-reads the table when the sequence word moves */
        store(&b->ctl[W_CONTROL_SEQ], load(&b->ctl[W_CONTROL_SEQ]) + 1);
}

/* freewheel: wait (at most while the engine's heartbeat moves) for n output frames */
static void wait_for_output(Bridge *b, int64_t n) {
    int64_t beat = load(&b->ctl[W_HEARTBEAT]), since = now_ns();
    while (load(&b->out_hdr[H_WRITE]) - load(&b->out_hdr[H_READ]) < n) {
        struct timespec t = {0, 100000};
        nanosleep(&t, NULL);
        int64_t now = now_ns(), beat_now = load(&b->ctl[W_HEARTBEAT]);
        if (beat_now != beat) { beat = beat_now; since = now; }
        else if (now - since > FREEWHEEL_WAIT_NS) { b->engine_gone = 1; return; }
    }
    b->engine_gone = 0;
}

/* n frames of one channel into a ring of `cap` frames at position pos (two segments
   at the wrap); a NULL source (an unconnected port) writes silence */
static void ring_put(float *ring, int64_t cap, int64_t pos, const float *src, int64_t n) {
    int64_t i = pos % cap, k = n < cap - i ? n : cap - i;
    if (src) {
        memcpy(ring + i, src, sizeof(float) * (size_t)k);
        memcpy(ring, src + k, sizeof(float) * (size_t)(n - k));
    } else {
        memset(ring + i, 0, sizeof(float) * (size_t)k);
        memset(ring, 0, sizeof(float) * (size_t)(n - k));
    }
}

static void ring_get(const float *ring, int64_t cap, int64_t pos, float *dst, int64_t n) {
    int64_t i = pos % cap, k = n < cap - i ? n : cap - i;
    memcpy(dst, ring + i, sizeof(float) * (size_t)k);
    memcpy(dst + k, ring, sizeof(float) * (size_t)(n - k));
}

static void run(LV2_Handle h, uint32_t n_frames) {
    Bridge *b = (Bridge *)h;
    int64_t t0 = now_ns(), n = n_frames;
    float **out = &b->port[P_OUT0];
    if (b->mem == NULL) {  /* cannot happen after a successful instantiate */
        for (int c = 0; c < 2 * N_STEREO_OUT; ++c) if (out[c]) memset(out[c], 0, 4 * n);
        return;
    }
    follow_gains(b);
    /* input: all of it, or nothing when the ring is full (counted as lost) */
    int64_t w = load(&b->in_hdr[H_WRITE]);
    if (w + n - load(&b->in_hdr[H_READ]) > b->in_cap) {
        b->in_hdr[H_LOST] += n;
    } else {
        for (int c = 0; c < 2; ++c)
            ring_put(b->in_data + c * b->in_cap, b->in_cap, w, b->port[P_IN_L + c], n);
        store(&b->in_hdr[H_WRITE], w + n);
    }
    int freewheel = b->port[P_FREEWHEEL] && *b->port[P_FREEWHEEL] > 0.5f;
    if (freewheel && !b->engine_gone) wait_for_output(b, n);
    /* output: what is there, silence for the rest; the read position always advances */
    int64_t r = load(&b->out_hdr[H_READ]);
    int64_t m = load(&b->out_hdr[H_WRITE]) - r;
    m = m < 0 ? 0 : (m > n ? n : m);
    for (int c = 0; c < 2 * N_STEREO_OUT; ++c) {
        float *dst = out[c];
        if (!dst) continue;
        ring_get(b->out_data + c * b->out_cap, b->out_cap, r, dst, m);
        if (m < n) memset(dst + m, 0, sizeof(float) * (size_t)(n - m));
    }
    store(&b->out_hdr[H_READ], r + n);
    if (m < n) {
        b->ctl[W_UNDERRUNS] += 1;
        b->ctl[W_MISSING] += n - m;
        b->underruns += 1.0f;
    }
    b->ctl[W_CYCLES] += 1;
    if (b->port[P_LATENCY]) *b->port[P_LATENCY] = b->latency;
    if (b->port[P_UNDERRUNS]) *b->port[P_UNDERRUNS] = b->underruns;
    int64_t dt = now_ns() - t0;
    b->ctl[W_RUN_NS] += dt;
    if (dt > b->ctl[W_RUN_NS_MAX]) b->ctl[W_RUN_NS_MAX] = dt;
}

static void cleanup(LV2_Handle h) {
    Bridge *b = (Bridge *)h;
    if (b->mem) munmap(b->mem, b->size);
    if (b->fd >= 0) close(b->fd);  /* the bridge ends this instance's worker */
    free(b);
}

static const LV2_Descriptor descriptor = {RTSEP_URI, instantiate, connect_port, NULL, run, NULL,
                                          cleanup, NULL};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index) {
    return index == 0 ? &descriptor : NULL;
}
