/* A fake libnvidia-ml.so.1 for tests: the real nvidia-ml-py (pynvml) loads it and calls it.
 *
 * Built by tests/fakes/build.py:  gcc -shared -fPIC -Wl,-soname,libnvidia-ml.so.1 ...
 * Behaviour comes from the scenario file named by FAKE_NVML_SCENARIO (format: scenario.h),
 * read again by each nvmlInit*. Without it, init fails with NVML_ERROR_DRIVER_NOT_LOADED, like
 * a machine whose NVIDIA driver is not loaded.
 *
 * -DFAKE_OLD_DRIVER builds an "old driver" (R470-like) that does not export the newer symbols
 * (nvmlDeviceGetTemperatureV, the ClocksEvent functions, nvmlDeviceGetMemoryInfo_v2,
 * nvmlDeviceGetMemoryBusWidth, GPM): pynvml raises NVMLError_FunctionNotFound for them.
 *
 * Scripted faults: "hang gpu=N call=temperature ..." blocks nvmlDeviceGetTemperature(V), and
 * "counters_reset_at=T" sends the energy and violation counters back to 0 at T (scenario.h).
 *
 * Test hooks (not NVML API): fakeNvmlCallerTids() lists the thread ids (gettid) that called
 * the library, fakeNvmlEpochNs() returns the scenario's time origin.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scenario.h"

typedef int nvmlReturn_t;
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_ARGUMENT_VERSION_MISMATCH 25

#define REASON_SW_POWER_CAP 0x4ULL
#define REASON_SW_THERMAL 0x20ULL
#define REASON_HW_THERMAL 0x40ULL
#define REASON_HW_POWER_BRAKE 0x80ULL

typedef sc_gpu_t *nvmlDevice_t;

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } nvmlMemory_v2_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct { unsigned long long referenceTime, violationTime; } nvmlViolationTime_t;
typedef struct { unsigned int version, sensorType; int temperature; } nvmlTemperature_v1_t;
typedef union {
    double dVal;
    unsigned int uiVal;
    unsigned long ulVal;
    unsigned long long ullVal;
    long long sllVal;
    int siVal;
    unsigned short usVal;
} nvmlValue_t;
typedef struct {
    unsigned int fieldId, scopeId;
    long long timestamp, latencyUsec;
    unsigned int valueType;
    nvmlReturn_t nvmlReturn;
    nvmlValue_t value;
} nvmlFieldValue_t;
typedef struct { unsigned int version, isSupportedDevice; } nvmlGpmSupport_t;
typedef struct { sc_gpu_t *gpu; double t; int taken; } gpm_sample_t;
typedef struct { const char *shortName, *longName, *unit; } gpm_info_t;
typedef struct { unsigned int metricId; nvmlReturn_t nvmlReturn; double value; gpm_info_t info; } gpm_metric_t;
typedef struct {
    unsigned int version, numMetrics;
    gpm_sample_t *sample1, *sample2;
    gpm_metric_t metrics[];
} gpm_metrics_get_t;

static sc_scenario_t S;
static int refcount;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int caller_tids[256];
static int n_callers;

static const struct { const char *name; uint64_t bit; } REASONS[] = {
    {"GpuIdle", 0x1}, {"ApplicationsClocksSetting", 0x2}, {"SwPowerCap", 0x4}, {"HwSlowdown", 0x8},
    {"SyncBoost", 0x10}, {"SwThermalSlowdown", 0x20}, {"HwThermalSlowdown", 0x40},
    {"HwPowerBrakeSlowdown", 0x80}, {"DisplayClockSetting", 0x100}, {"BoardLimit", 0x200},
    {"Reliability", 0x400},
};

static uint64_t sc_parse_reasons(const char *text) {
    if (strncmp(text, "0x", 2) == 0) return strtoull(text, NULL, 16);
    uint64_t mask = 0;
    char buf[512];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *name = strtok(buf, ",|"); name; name = strtok(NULL, ",|"))
        for (size_t i = 0; i < sizeof(REASONS) / sizeof(REASONS[0]); i++)
            if (strcmp(name, REASONS[i].name) == 0) mask |= REASONS[i].bit;
    return mask;
}

static void trace_caller(void) {
    int tid = (int)syscall(SYS_gettid);
    pthread_mutex_lock(&lock);
    int seen = 0;
    for (int i = 0; i < n_callers; i++) seen |= caller_tids[i] == tid;
    if (!seen && n_callers < 256) caller_tids[n_callers++] = tid;
    pthread_mutex_unlock(&lock);
}

int fakeNvmlCallerTids(int *out, int max) {
    pthread_mutex_lock(&lock);
    int n = n_callers < max ? n_callers : max;
    for (int i = 0; i < n; i++) out[i] = caller_tids[i];
    pthread_mutex_unlock(&lock);
    return n;
}

void fakeNvmlResetCallers(void) {
    pthread_mutex_lock(&lock);
    n_callers = 0;
    pthread_mutex_unlock(&lock);
}

long long fakeNvmlEpochNs(void) { return S.epoch_ns; }

/* Every device entry point: record the caller, check the handle, fail once the GPU is lost. */
#define DEVICE_ENTRY(dev)                                   \
    trace_caller();                                         \
    if (!S.loaded || refcount == 0) return NVML_ERROR_UNINITIALIZED; \
    if (!(dev) || !(dev)->present) return NVML_ERROR_INVALID_ARGUMENT; \
    if (sc_lost(&S, (dev))) return NVML_ERROR_GPU_IS_LOST;
#define NOW sc_seconds(&S)

static void copy_text(char *dst, unsigned int len, const char *src) {
    if (len == 0) return;
    snprintf(dst, len, "%s", src);
}

/* ---- init / system ------------------------------------------------------------------- */
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    trace_caller();
    const char *path = getenv("FAKE_NVML_SCENARIO");
    if (!path || !*path) return NVML_ERROR_DRIVER_NOT_LOADED;
    pthread_mutex_lock(&lock);
    int reload = refcount == 0 || strcmp(S.path, path) != 0;
    pthread_mutex_unlock(&lock);
    if (reload && sc_load(&S, path) != 0) return NVML_ERROR_DRIVER_NOT_LOADED;
    const char *err = sc_sys(&S, "init_error", NULL);
    if (err) return atoi(err);
    refcount++;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }
nvmlReturn_t nvmlInit(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    trace_caller();
    if (refcount == 0) return NVML_ERROR_UNINITIALIZED;
    refcount--;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    default: return "Fake NVML error";
    }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
    trace_caller();
    copy_text(version, length, sc_sys(&S, "driver", "550.54.15"));
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
    trace_caller();
    copy_text(version, length, sc_sys(&S, "nvml", "12.550.54.15"));
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version) {
    trace_caller();
    *version = atoi(sc_sys(&S, "cuda", "12040"));
    return NVML_SUCCESS;
}
#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *version) { return nvmlSystemGetCudaDriverVersion(version); }
#endif

/* ---- enumeration and static facts --------------------------------------------------------- */
nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    trace_caller();
    if (!S.loaded || refcount == 0) return NVML_ERROR_UNINITIALIZED;
    *count = (unsigned int)S.n_gpus;
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return nvmlDeviceGetCount_v2(count); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    trace_caller();
    if (!S.loaded || refcount == 0) return NVML_ERROR_UNINITIALIZED;
    if (index >= (unsigned int)S.n_gpus || !S.gpus[index].present) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &S.gpus[index];
    return NVML_SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device) {
    return nvmlDeviceGetHandleByIndex_v2(index, device);
}

nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t dev, unsigned int *index) {
    DEVICE_ENTRY(dev);
    *index = (unsigned int)(dev - S.gpus);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t dev, char *name, unsigned int length) {
    DEVICE_ENTRY(dev);
    copy_text(name, length, sc_attr(dev, "name", "Fake GPU"));
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t dev, char *uuid, unsigned int length) {
    DEVICE_ENTRY(dev);
    char fallback[64];
    snprintf(fallback, sizeof(fallback), "GPU-fake-%d", (int)(dev - S.gpus));
    copy_text(uuid, length, sc_attr(dev, "uuid", fallback));
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t dev, nvmlPciInfo_t *pci) {
    DEVICE_ENTRY(dev);
    memset(pci, 0, sizeof(*pci));
    const char *bus = sc_attr(dev, "bus", "00000000:01:00.0");
    copy_text(pci->busId, sizeof(pci->busId), bus);
    copy_text(pci->busIdLegacy, sizeof(pci->busIdLegacy), bus + (strlen(bus) > 12 ? 4 : 0));
    pci->pciDeviceId = 0x233010DE;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t dev, unsigned int *arch) {
    DEVICE_ENTRY(dev);
    *arch = (unsigned int)sc_attr_num(dev, "arch", 7);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t dev, int *major, int *minor) {
    DEVICE_ENTRY(dev);
    double cc = sc_attr_num(dev, "cc", 8.0);
    *major = (int)cc;
    *minor = (int)((cc - (int)cc) * 10 + 0.5);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t dev, unsigned int type, unsigned int *clock) {
    DEVICE_ENTRY(dev);
    const char *keys[] = {"gr_max", "sm_max", "mem_max"};
    if (type > 2 || !sc_attr(dev, keys[type], NULL)) return NVML_ERROR_NOT_SUPPORTED;
    *clock = (unsigned int)sc_attr_num(dev, keys[type], 0);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTemperatureThreshold(nvmlDevice_t dev, unsigned int type, unsigned int *temp) {
    DEVICE_ENTRY(dev);
    const char *keys[] = {"shutdown_c", "slowdown_c", "mem_max_c", "gpu_max_c"};
    if (type > 3 || !sc_attr(dev, keys[type], NULL)) return NVML_ERROR_NOT_SUPPORTED;
    *temp = (unsigned int)sc_attr_num(dev, keys[type], 0);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t dev, unsigned int *limit) {
    DEVICE_ENTRY(dev);
    if (!sc_attr(dev, "power_limit_w", NULL)) return NVML_ERROR_NOT_SUPPORTED;
    *limit = (unsigned int)(sc_value(dev, "power_limit_w", NOW, sc_attr_num(dev, "power_limit_w", 0)) * 1000);
    return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetMemoryBusWidth(nvmlDevice_t dev, unsigned int *width) {
    DEVICE_ENTRY(dev);
    if (sc_unsupported(dev, "bus_width") || !sc_attr(dev, "bus_width", NULL)) return NVML_ERROR_NOT_SUPPORTED;
    *width = (unsigned int)sc_attr_num(dev, "bus_width", 0);
    return NVML_SUCCESS;
}
#endif

/* ---- live values ------------------------------------------------------------------------------ */
nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t dev, unsigned int sensor, unsigned int *temp) {
    DEVICE_ENTRY(dev);
    sc_hang(&S, dev, "temperature");
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT;
    *temp = (unsigned int)(sc_value(dev, "temp", NOW, 40) + 0.5);
    return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t dev, nvmlTemperature_v1_t *temp) {
    DEVICE_ENTRY(dev);
    sc_hang(&S, dev, "temperature");
    if (temp->version != 0x100000C) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    if (temp->sensorType == 0) {
        temp->temperature = (int)(sc_value(dev, "temp", NOW, 40) + 0.5);
    } else if (temp->sensorType == 1) { /* NVML_TEMPERATURE_GPU_MAX: the hottest point */
        if (sc_unsupported(dev, "hotspot") || !sc_has(dev, "hotspot")) return NVML_ERROR_NOT_SUPPORTED;
        temp->temperature = (int)(sc_value(dev, "hotspot", NOW, 0) + 0.5);
    } else {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t dev, unsigned int type, unsigned int *clock) {
    DEVICE_ENTRY(dev);
    const char *keys[] = {"gr", "sm", "mem"};
    if (type > 2) return NVML_ERROR_INVALID_ARGUMENT;
    const char *key = type == 0 && !sc_has(dev, "gr") ? "sm" : keys[type];
    *clock = (unsigned int)(sc_value(dev, key, NOW, 0) + 0.5);
    return NVML_SUCCESS;
}

static double power_w(sc_gpu_t *dev) { return sc_value(dev, "power", NOW, 0); }

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t dev, unsigned int *milliwatts) {
    DEVICE_ENTRY(dev);
    *milliwatts = (unsigned int)(power_w(dev) * 1000);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t dev, unsigned long long *millijoules) {
    DEVICE_ENTRY(dev);
    if (sc_unsupported(dev, "energy")) return NVML_ERROR_NOT_SUPPORTED;
    double t = NOW, origin = sc_counter_origin(dev, t);
    double start = origin > 0 ? 0.0 : sc_attr_num(dev, "energy_start_j", 1000.0);
    double joules = start + sc_integral(dev, "power", t) - sc_integral(dev, "power", origin);
    *millijoules = (unsigned long long)(joules * 1000);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t dev, nvmlUtilization_t *util) {
    DEVICE_ENTRY(dev);
    double t = NOW;
    util->gpu = (unsigned int)(sc_value(dev, "util", t, 0) + 0.5);
    util->memory = (unsigned int)(sc_value(dev, "mem_util", t, 0) + 0.5);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t dev, nvmlMemory_t *memory) {
    DEVICE_ENTRY(dev);
    unsigned long long total = (unsigned long long)sc_attr_num(dev, "mem_total_mib", 16384) << 20;
    memory->used = (unsigned long long)sc_value(dev, "mem_used_mib", NOW, 0) << 20;
    memory->total = total;
    memory->free = total - memory->used;
    return NVML_SUCCESS;
}

#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t dev, nvmlMemory_v2_t *memory) {
    DEVICE_ENTRY(dev);
    if (memory->version != 0x02000028) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    nvmlMemory_t v1;
    nvmlDeviceGetMemoryInfo(dev, &v1);
    memory->total = v1.total;
    memory->reserved = 300ULL << 20;
    memory->used = v1.used;
    memory->free = v1.total - v1.used - memory->reserved;
    return NVML_SUCCESS;
}
#endif

static nvmlReturn_t current_reasons(nvmlDevice_t dev, unsigned long long *reasons) {
    DEVICE_ENTRY(dev);
    *reasons = sc_step(dev, "reasons", NOW);
    return NVML_SUCCESS;
}

static nvmlReturn_t supported_reasons(nvmlDevice_t dev, unsigned long long *reasons) {
    DEVICE_ENTRY(dev);
    *reasons = strtoull(sc_attr(dev, "supported_reasons", "0x1ff"), NULL, 16);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return current_reasons(dev, reasons);
}
nvmlReturn_t nvmlDeviceGetSupportedClocksThrottleReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return supported_reasons(dev, reasons);
}
#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return current_reasons(dev, reasons);
}
nvmlReturn_t nvmlDeviceGetSupportedClocksEventReasons(nvmlDevice_t dev, unsigned long long *reasons) {
    return supported_reasons(dev, reasons);
}
#endif

static unsigned long long violation_ns(sc_gpu_t *dev, unsigned int policy) {
    uint64_t mask = policy == 0 ? (REASON_SW_POWER_CAP | REASON_HW_POWER_BRAKE) : (REASON_SW_THERMAL | REASON_HW_THERMAL);
    double t = NOW;
    return (unsigned long long)((sc_time_with(dev, mask, t) - sc_time_with(dev, mask, sc_counter_origin(dev, t))) * 1e9);
}

nvmlReturn_t nvmlDeviceGetViolationStatus(nvmlDevice_t dev, unsigned int policy, nvmlViolationTime_t *out) {
    DEVICE_ENTRY(dev);
    if (sc_unsupported(dev, "violation") || policy > 1) return NVML_ERROR_NOT_SUPPORTED;
    out->referenceTime = (unsigned long long)(sc_now_ns() / 1000);
    out->violationTime = violation_ns(dev, policy);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t dev, int count, nvmlFieldValue_t *values) {
    DEVICE_ENTRY(dev);
    double t = NOW;
    for (int i = 0; i < count; i++) {
        nvmlFieldValue_t *fv = &values[i];
        fv->timestamp = sc_now_ns() / 1000;
        fv->latencyUsec = 0;
        fv->nvmlReturn = NVML_SUCCESS;
        switch (fv->fieldId) {
        case 82: /* NVML_FI_DEV_MEMORY_TEMP */
            if (sc_unsupported(dev, "mem_temp") || !sc_has(dev, "mem_temp")) {
                fv->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            } else {
                fv->valueType = 1;
                fv->value.uiVal = (unsigned int)(sc_value(dev, "mem_temp", t, 0) + 0.5);
            }
            break;
        case 185: /* NVML_FI_DEV_POWER_AVERAGE */
        case 186: /* NVML_FI_DEV_POWER_INSTANT */
            if (sc_unsupported(dev, "power_fields")) {
                fv->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            } else {
                fv->valueType = 1;
                fv->value.uiVal = (unsigned int)(power_w(dev) * 1000);
            }
            break;
        case 74: /* NVML_FI_DEV_PERF_POLICY_POWER (ns) */
        case 75: /* NVML_FI_DEV_PERF_POLICY_THERMAL (ns) */
            if (sc_unsupported(dev, "violation")) {
                fv->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            } else {
                fv->valueType = 3;
                fv->value.ullVal = violation_ns(dev, fv->fieldId - 74);
            }
            break;
        default:
            fv->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
        }
    }
    return NVML_SUCCESS;
}

/* ---- GPM (Hopper and newer) ------------------------------------------------------------------ */
#ifndef FAKE_OLD_DRIVER
nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t dev, nvmlGpmSupport_t *support) {
    DEVICE_ENTRY(dev);
    if (support->version != 1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    support->isSupportedDevice = sc_attr_num(dev, "gpm", 0) > 0 && !sc_unsupported(dev, "gpm");
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlGpmSampleAlloc(gpm_sample_t **sample) {
    trace_caller();
    *sample = calloc(1, sizeof(gpm_sample_t));
    return *sample ? NVML_SUCCESS : NVML_ERROR_INVALID_ARGUMENT;
}

nvmlReturn_t nvmlGpmSampleFree(gpm_sample_t *sample) {
    trace_caller();
    free(sample);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t dev, gpm_sample_t *sample) {
    DEVICE_ENTRY(dev);
    if (!sample) return NVML_ERROR_INVALID_ARGUMENT;
    if (sc_attr_num(dev, "gpm", 0) <= 0) return NVML_ERROR_NOT_SUPPORTED;
    sample->gpu = dev;
    sample->t = NOW;
    sample->taken = 1;
    return NVML_SUCCESS;
}

/* Metrics between two samples: the time average of the scripted track over [t1, t2]. */
nvmlReturn_t nvmlGpmMetricsGet(gpm_metrics_get_t *request) {
    trace_caller();
    if (request->version != 1) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    gpm_sample_t *a = request->sample1, *b = request->sample2;
    if (!a || !b || !a->taken || !b->taken || a->gpu != b->gpu) return NVML_ERROR_INVALID_ARGUMENT;
    if (sc_lost(&S, a->gpu)) return NVML_ERROR_GPU_IS_LOST;
    double t1 = a->t < b->t ? a->t : b->t, t2 = a->t < b->t ? b->t : a->t;
    for (unsigned int i = 0; i < request->numMetrics; i++) {
        gpm_metric_t *m = &request->metrics[i];
        const char *key = m->metricId == 10 ? "dram_bw" : m->metricId == 1 ? "util" : NULL;
        if (!key || t2 <= t1) {
            m->nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
            continue;
        }
        m->value = (sc_integral(a->gpu, key, t2) - sc_integral(a->gpu, key, t1)) / (t2 - t1);
        m->nvmlReturn = NVML_SUCCESS;
        m->info.shortName = key;
        m->info.longName = key;
        m->info.unit = "%";
    }
    return NVML_SUCCESS;
}
#endif
