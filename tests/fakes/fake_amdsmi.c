/* A fake libamd_smi.so for tests: the real `amdsmi` Python package imports it and calls it.
 *
 * The amdsmi wrapper binds every symbol at import, so tests/fakes/build.py generates a stub
 * (returning AMDSMI_STATUS_NOT_SUPPORTED) for each symbol the installed wrapper names that is
 * not implemented here, and a header (amdsmi_layout.h) with the offsets and sizes of the
 * structures, taken from the wrapper's own ctypes definitions, so the layouts cannot drift.
 *
 * Behaviour comes from the scenario file named by FAKE_AMDSMI_SCENARIO (format: scenario.h),
 * read by each amdsmi_init. Without it, init succeeds and finds no GPU. Reasons on "at" lines
 * mix two kinds of names: indep_throttle_status bits (SMU_THROTTLER_* without the prefix, e.g.
 * TEMP_HOTSPOT, PPT0) and violation-status flags (PROCHOT_THERMAL, PPT_POWER, SOCKET_THERMAL,
 * VR_THERMAL, HBM_THERMAL), which this file keeps in bits 59-63.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "amdsmi_layout.h"
#include "scenario.h"

typedef unsigned int amdsmi_status_t;
#define AMDSMI_STATUS_SUCCESS 0
#define AMDSMI_STATUS_INVAL 1
#define AMDSMI_STATUS_NOT_SUPPORTED 2
#define AMDSMI_STATUS_FILE_ERROR 14
#define AMDSMI_STATUS_NOT_INIT 32

#define VIOLATION_SHIFT 59

static sc_scenario_t S;
static int initialised;
typedef struct { int gpu; } socket_t;
static socket_t sockets[SC_MAX_GPUS];

static const struct { const char *name; int bit; } REASONS[] = {
    {"PPT0", 0}, {"PPT1", 1}, {"PPT2", 2}, {"PPT3", 3}, {"SPL", 4}, {"FPPT", 5}, {"SPPT", 6},
    {"SPPT_APU", 7}, {"TDC_GFX", 16}, {"TDC_SOC", 17}, {"TDC_MEM", 18}, {"TDC_VDD", 19},
    {"TDC_CVIP", 20}, {"EDC_CPU", 21}, {"EDC_GFX", 22}, {"APCC", 23}, {"TEMP_GPU", 32},
    {"TEMP_CORE", 33}, {"TEMP_MEM", 34}, {"TEMP_EDGE", 35}, {"TEMP_HOTSPOT", 36}, {"TEMP_SOC", 37},
    {"TEMP_VR_GFX", 38}, {"TEMP_VR_SOC", 39}, {"TEMP_VR_MEM0", 40}, {"TEMP_VR_MEM1", 41},
    {"TEMP_LIQUID0", 42}, {"TEMP_LIQUID1", 43}, {"VRHOT0", 44}, {"VRHOT1", 45},
    {"PROCHOT_CPU", 46}, {"PROCHOT_GFX", 47}, {"PPM", 56}, {"FIT", 57},
    {"PROCHOT_THERMAL", VIOLATION_SHIFT + 0}, {"PPT_POWER", VIOLATION_SHIFT + 1},
    {"SOCKET_THERMAL", VIOLATION_SHIFT + 2}, {"VR_THERMAL", VIOLATION_SHIFT + 3},
    {"HBM_THERMAL", VIOLATION_SHIFT + 4},
};

static uint64_t sc_parse_reasons(const char *text) {
    uint64_t mask = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *name = strtok(buf, ",|"); name; name = strtok(NULL, ",|"))
        for (size_t i = 0; i < sizeof(REASONS) / sizeof(REASONS[0]); i++)
            if (strcmp(name, REASONS[i].name) == 0) mask |= 1ULL << REASONS[i].bit;
    return mask;
}

#define PUT(base, off, type, value)                   \
    do {                                              \
        type v_ = (type)(value);                      \
        memcpy((char *)(base) + (off), &v_, sizeof v_); \
    } while (0)
#define PUT_TEXT(base, off, size, text) snprintf((char *)(base) + (off), (size), "%s", (text))

static sc_gpu_t *gpu_of(void *handle) {
    sc_gpu_t *gpu = handle;
    if (!initialised || gpu < S.gpus || gpu >= S.gpus + SC_MAX_GPUS || !gpu->present) return NULL;
    return gpu;
}

#define ENTRY(handle)                                             \
    sc_gpu_t *gpu = gpu_of(handle);                               \
    if (!initialised) return AMDSMI_STATUS_NOT_INIT;              \
    if (!gpu) return AMDSMI_STATUS_INVAL;                         \
    if (sc_lost(&S, gpu)) return AMDSMI_STATUS_FILE_ERROR;
#define NOW sc_seconds(&S)
#define UNSUPPORTED(feature) \
    if (sc_unsupported(gpu, feature)) return AMDSMI_STATUS_NOT_SUPPORTED;

amdsmi_status_t amdsmi_init(uint64_t flags) {
    (void)flags;
    const char *path = getenv("FAKE_AMDSMI_SCENARIO");
    memset(&S, 0, sizeof(S));
    if (path && *path && sc_load(&S, path) != 0) return AMDSMI_STATUS_FILE_ERROR;
    const char *err = sc_sys(&S, "init_error", NULL);
    if (err) return (amdsmi_status_t)atoi(err);
    initialised = 1;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_shut_down(void) {
    initialised = 0;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_status_code_to_string(amdsmi_status_t status, const char **text) {
    *text = status == AMDSMI_STATUS_SUCCESS ? "Success" : "Fake AMD SMI error";
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_lib_version(void *version) {
    static char build[64];
    int major = 0, minor = 0, release = 0;
    sscanf(sc_sys(&S, "lib", "25.1.0"), "%d.%d.%d", &major, &minor, &release);
    snprintf(build, sizeof(build), "%s", sc_sys(&S, "lib", "25.1.0"));
    PUT(version, OFF_version_major, uint32_t, major);
    PUT(version, OFF_version_minor, uint32_t, minor);
    PUT(version, OFF_version_release, uint32_t, release);
    PUT(version, OFF_version_build, char *, build);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_socket_handles(uint32_t *count, void **handles) {
    if (!initialised) return AMDSMI_STATUS_NOT_INIT;
    uint32_t n = 0;
    for (int g = 0; g < S.n_gpus; g++) {
        if (!S.gpus[g].present) continue;
        sockets[n].gpu = g;
        if (handles && n < *count) handles[n] = &sockets[n];
        n++;
    }
    if (!handles || n < *count) *count = n;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_processor_handles(void *socket, uint32_t *count, void **handles) {
    if (!initialised) return AMDSMI_STATUS_NOT_INIT;
    socket_t *sock = socket;
    if (sock < sockets || sock >= sockets + SC_MAX_GPUS) return AMDSMI_STATUS_INVAL;
    int g = sock->gpu;
    if (handles && *count >= 1) handles[0] = &S.gpus[g];
    *count = 1;
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_device_uuid(void *handle, uint32_t *length, char *uuid) {
    ENTRY(handle);
    snprintf(uuid, *length, "%s", sc_attr(gpu, "uuid", "fake-uuid"));
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_device_bdf(void *handle, void *bdf) {
    ENTRY(handle);
    unsigned domain = 0, bus = 0, device = 0, function = 0;
    sscanf(sc_attr(gpu, "bus", "0000:03:00.0"), "%x:%x:%x.%x", &domain, &bus, &device, &function);
    uint64_t value = (uint64_t)function | (uint64_t)device << 3 | (uint64_t)bus << 8 | (uint64_t)domain << 16;
    PUT(bdf, 0, uint64_t, value);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_asic_info(void *handle, void *info) {
    ENTRY(handle);
    memset(info, 0, SIZE_asic_info);
    PUT_TEXT(info, OFF_asic_info_market_name, 256, sc_attr(gpu, "name", "AMD Radeon Fake"));
    PUT_TEXT(info, OFF_asic_info_vendor_name, 256, "Advanced Micro Devices Inc. [AMD/ATI]");
    PUT(info, OFF_asic_info_vendor_id, uint32_t, 0x1002);
    PUT(info, OFF_asic_info_device_id, uint64_t, 0x74a1);
    PUT(info, OFF_asic_info_num_of_compute_units, uint32_t, (uint32_t)sc_attr_num(gpu, "compute_units", 304));
    PUT(info, OFF_asic_info_target_graphics_version, uint64_t, 0x942);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_driver_info(void *handle, void *info) {
    ENTRY(handle);
    memset(info, 0, SIZE_driver_info);
    PUT_TEXT(info, OFF_driver_info_driver_name, 256, "amdgpu");
    PUT_TEXT(info, OFF_driver_info_driver_version, 256, sc_sys(&S, "driver", "6.10.5"));
    return AMDSMI_STATUS_SUCCESS;
}

/* Temperatures: sensor 0 edge, 1 hotspot/junction, 2 VRAM; metric 0 current, 5 critical, 7 emergency. */
amdsmi_status_t amdsmi_get_temp_metric(void *handle, uint32_t sensor, uint32_t metric, int64_t *value) {
    ENTRY(handle);
    const char *names[] = {"edge", "hotspot", "vram_temp"};
    if (sensor > 2 || sc_unsupported(gpu, names[sensor])) return AMDSMI_STATUS_NOT_SUPPORTED;
    if (metric == 0) {
        if (!sc_has(gpu, names[sensor])) return AMDSMI_STATUS_NOT_SUPPORTED;
        *value = (int64_t)(sc_value(gpu, names[sensor], NOW, 0) + 0.5);
        return AMDSMI_STATUS_SUCCESS;
    }
    char key[48];
    snprintf(key, sizeof(key), "%s_%s", names[sensor], metric == 5 ? "crit_c" : metric == 7 ? "emergency_c" : "other");
    if (!sc_attr(gpu, key, NULL)) return AMDSMI_STATUS_NOT_SUPPORTED;
    *value = (int64_t)sc_attr_num(gpu, key, 0);
    return AMDSMI_STATUS_SUCCESS;
}

/* Clocks: type 0 GFX, 4 MEM. */
amdsmi_status_t amdsmi_get_clock_info(void *handle, uint32_t type, void *info) {
    ENTRY(handle);
    const char *now_key = type == 0 ? "gfx" : type == 4 ? "mem" : NULL;
    if (!now_key) return AMDSMI_STATUS_NOT_SUPPORTED;
    memset(info, 0, SIZE_clk_info);
    PUT(info, OFF_clk_info_clk, uint32_t, sc_value(gpu, now_key, NOW, 0) + 0.5);
    PUT(info, OFF_clk_info_min_clk, uint32_t, 100);
    PUT(info, OFF_clk_info_max_clk, uint32_t, sc_attr_num(gpu, type == 0 ? "gfx_max" : "mem_max", 0));
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_power_info(void *handle, void *info) {
    ENTRY(handle);
    double watts = sc_value(gpu, "power", NOW, 0);
    memset(info, 0, SIZE_power_info);
    PUT(info, OFF_power_info_socket_power, uint64_t, watts);
    PUT(info, OFF_power_info_current_socket_power, uint32_t, sc_unsupported(gpu, "current_power") ? 0xFFFF : watts);
    PUT(info, OFF_power_info_average_socket_power, uint32_t, watts);
    PUT(info, OFF_power_info_power_limit, uint32_t, sc_attr_num(gpu, "power_cap_w", 0));
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_power_cap_info(void *handle, uint32_t sensor, void *info) {
    ENTRY(handle);
    (void)sensor;
    UNSUPPORTED("power_cap");
    memset(info, 0, SIZE_power_cap_info);
    PUT(info, OFF_power_cap_info_power_cap, uint64_t, sc_attr_num(gpu, "power_cap_w", 0) * 1e6); /* µW */
    PUT(info, OFF_power_cap_info_default_power_cap, uint64_t, sc_attr_num(gpu, "power_cap_w", 0) * 1e6);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_energy_count(void *handle, uint64_t *energy, float *resolution, uint64_t *timestamp) {
    ENTRY(handle);
    UNSUPPORTED("energy");
    const float res_uj = 15.259f; /* one count is 15.259 µJ, as on real parts */
    double joules = sc_attr_num(gpu, "energy_start_j", 1000.0) + sc_integral(gpu, "power", NOW);
    *energy = (uint64_t)(joules * 1e6 / res_uj);
    *resolution = res_uj;
    *timestamp = (uint64_t)sc_now_ns();
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_activity(void *handle, void *usage) {
    ENTRY(handle);
    UNSUPPORTED("activity");
    double t = NOW;
    memset(usage, 0, SIZE_engine_usage);
    PUT(usage, OFF_engine_usage_gfx_activity, uint32_t, sc_value(gpu, "gfx_activity", t, 0) + 0.5);
    PUT(usage, OFF_engine_usage_umc_activity, uint32_t, sc_value(gpu, "umc_activity", t, 0) + 0.5);
    PUT(usage, OFF_engine_usage_mm_activity, uint32_t, 0);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_vram_usage(void *handle, void *usage) {
    ENTRY(handle);
    memset(usage, 0, SIZE_vram_usage);
    PUT(usage, OFF_vram_usage_vram_total, uint32_t, sc_attr_num(gpu, "vram_total_mib", 16368));
    PUT(usage, OFF_vram_usage_vram_used, uint32_t, sc_value(gpu, "vram_used_mib", NOW, 0));
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_vram_info(void *handle, void *info) {
    ENTRY(handle);
    UNSUPPORTED("vram_info");
    memset(info, 0, SIZE_vram_info);
    PUT(info, OFF_vram_info_vram_type, uint32_t, 7);
    PUT(info, OFF_vram_info_vram_size, uint64_t, sc_attr_num(gpu, "vram_total_mib", 16368));
    PUT(info, OFF_vram_info_vram_bit_width, uint32_t, sc_attr_num(gpu, "vram_bit_width", 0));
    PUT(info, OFF_vram_info_vram_max_bandwidth, uint64_t, sc_attr_num(gpu, "vram_max_bw_gbs", 0));
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_metrics_info(void *handle, void *metrics) {
    ENTRY(handle);
    UNSUPPORTED("metrics");
    double t = NOW;
    uint64_t reasons = sc_step(gpu, "reasons", t) & ((1ULL << VIOLATION_SHIFT) - 1);
    memset(metrics, 0xFF, SIZE_gpu_metrics); /* fields the firmware does not fill read as "N/A" */
    PUT(metrics, OFF_gpu_metrics_temperature_hotspot, uint16_t, sc_value(gpu, "hotspot", t, 0) + 0.5);
    PUT(metrics, OFF_gpu_metrics_average_gfx_activity, uint16_t, sc_value(gpu, "gfx_activity", t, 0) + 0.5);
    PUT(metrics, OFF_gpu_metrics_average_umc_activity, uint16_t, sc_value(gpu, "umc_activity", t, 0) + 0.5);
    PUT(metrics, OFF_gpu_metrics_throttle_status, uint32_t, reasons != 0);
    PUT(metrics, OFF_gpu_metrics_indep_throttle_status, uint64_t, reasons);
    return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_violation_status(void *handle, void *status) {
    ENTRY(handle);
    UNSUPPORTED("violation");
    uint64_t active = sc_step(gpu, "reasons", NOW) >> VIOLATION_SHIFT;
    memset(status, 0, SIZE_violation_status);
    PUT(status, OFF_violation_status_reference_timestamp, uint64_t, sc_now_ns() / 1000);
    PUT(status, OFF_violation_status_active_prochot_thrm, uint8_t, active >> 0 & 1);
    PUT(status, OFF_violation_status_active_ppt_pwr, uint8_t, active >> 1 & 1);
    PUT(status, OFF_violation_status_active_socket_thrm, uint8_t, active >> 2 & 1);
    PUT(status, OFF_violation_status_active_vr_thrm, uint8_t, active >> 3 & 1);
    PUT(status, OFF_violation_status_active_hbm_thrm, uint8_t, active >> 4 & 1);
    return AMDSMI_STATUS_SUCCESS;
}
