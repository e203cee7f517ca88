/* MC146818 CMOS RTC at 0x70/0x71, IRQ 8.
 *
 * Guest time = host CLOCK_REALTIME + an offset the guest changes by setting
 * the clock. The time registers are computed on read; while register B's SET
 * bit is on they are frozen so the guest can write a new time, which takes
 * effect when SET is cleared. Interrupt flags are evaluated lazily (on a
 * register C read) and, while an interrupt is enabled and not yet
 * acknowledged, by a timerfd on the I/O thread that pulses the edge line. */
#include "devices.h"
#include "core/config.h"
#include "core/event_loop.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RTC_SECONDS        0x00
#define RTC_SECONDS_ALARM  0x01
#define RTC_MINUTES        0x02
#define RTC_MINUTES_ALARM  0x03
#define RTC_HOURS          0x04
#define RTC_HOURS_ALARM    0x05
#define RTC_DAY_OF_WEEK    0x06
#define RTC_DAY_OF_MONTH   0x07
#define RTC_MONTH          0x08
#define RTC_YEAR           0x09
#define RTC_REG_A          0x0A
#define RTC_REG_B          0x0B
#define RTC_REG_C          0x0C
#define RTC_REG_D          0x0D
#define RTC_CENTURY        0x32      /* what our FADT names, as on PCs */
#define CMOS_SIZE          128

#define REG_A_UIP          0x80
#define REG_A_DV_MASK      0x70
#define REG_A_DV_NORMAL    0x20      /* 32.768 kHz time base, running */
#define REG_A_RATE_MASK    0x0F
#define REG_B_SET          0x80
#define REG_B_PIE          0x40
#define REG_B_AIE          0x20
#define REG_B_UIE          0x10
#define REG_B_DM_BINARY    0x04
#define REG_B_24H          0x02
#define REG_C_IRQF         0x80
#define REG_C_PF           0x40
#define REG_C_AF           0x20
#define REG_C_UF           0x10
#define REG_D_VRT          0x80

#define NSEC               1000000000LL
#define TICKS_PER_SEC      32768     /* the crystal the divider chain counts */
/* UIP rises this long before each update: 8 cycles of the 32.768 kHz base. */
#define UIP_WINDOW_NS      (8 * NSEC / TICKS_PER_SEC)

struct rtc {
    struct vm *vm;
    pthread_mutex_t lock;
    uint8_t cmos[CMOS_SIZE];
    uint8_t index;
    int64_t offset_ns;               /* guest time - host realtime */
    int64_t last_c_read;             /* guest ns when flags were last evaluated */
    int timerfd;
    bool timer_armed;
};

static int64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * NSEC + ts.tv_nsec;
}

static int64_t guest_now_ns(const struct rtc *s)
{
    return host_now_ns() + s->offset_ns;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static bool binary_mode(const struct rtc *s)
{
    return s->cmos[RTC_REG_B] & REG_B_DM_BINARY;
}

static uint8_t to_reg(const struct rtc *s, unsigned v)
{
    return binary_mode(s) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned from_reg(const struct rtc *s, uint8_t v)
{
    return binary_mode(s) ? v : (unsigned)((v >> 4) * 10 + (v & 0x0F));
}

static uint8_t hour_to_reg(const struct rtc *s, unsigned h)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return to_reg(s, h);
    unsigned h12 = h % 12 ? h % 12 : 12;
    return (uint8_t)(to_reg(s, h12) | (h >= 12 ? 0x80 : 0));
}

static unsigned hour_from_reg(const struct rtc *s, uint8_t v)
{
    if (s->cmos[RTC_REG_B] & REG_B_24H)
        return from_reg(s, v);
    unsigned h = from_reg(s, v & 0x7F) % 12;
    return (v & 0x80) ? h + 12 : h;
}

/* Writes the guest time @t into the time and date registers. */
static void time_to_regs(struct rtc *s, int64_t guest_ns)
{
    time_t t = (time_t)floor_div(guest_ns, NSEC);
    struct tm tm;
    gmtime_r(&t, &tm);
    unsigned year = (unsigned)tm.tm_year + 1900;
    s->cmos[RTC_SECONDS] = to_reg(s, (unsigned)tm.tm_sec);
    s->cmos[RTC_MINUTES] = to_reg(s, (unsigned)tm.tm_min);
    s->cmos[RTC_HOURS] = hour_to_reg(s, (unsigned)tm.tm_hour);
    s->cmos[RTC_DAY_OF_WEEK] = to_reg(s, (unsigned)tm.tm_wday + 1);
    s->cmos[RTC_DAY_OF_MONTH] = to_reg(s, (unsigned)tm.tm_mday);
    s->cmos[RTC_MONTH] = to_reg(s, (unsigned)tm.tm_mon + 1);
    s->cmos[RTC_YEAR] = to_reg(s, year % 100);
    s->cmos[RTC_CENTURY] = to_reg(s, year / 100);
}

/* Takes the time the guest wrote into the registers as the new clock. */
static void regs_to_offset(struct rtc *s)
{
    struct tm tm = {
        .tm_sec = (int)from_reg(s, s->cmos[RTC_SECONDS]),
        .tm_min = (int)from_reg(s, s->cmos[RTC_MINUTES]),
        .tm_hour = (int)hour_from_reg(s, s->cmos[RTC_HOURS]),
        .tm_mday = (int)from_reg(s, s->cmos[RTC_DAY_OF_MONTH]),
        .tm_mon = (int)from_reg(s, s->cmos[RTC_MONTH]) - 1,
        .tm_year = (int)(from_reg(s, s->cmos[RTC_CENTURY]) * 100 + from_reg(s, s->cmos[RTC_YEAR])) - 1900,
    };
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return;
    /* The new second starts now, as when a real divider is released. */
    s->offset_ns = (int64_t)t * NSEC - host_now_ns();
    s->last_c_read = guest_now_ns(s);
}

static bool clock_running(const struct rtc *s)
{
    return !(s->cmos[RTC_REG_B] & REG_B_SET) &&
           (s->cmos[RTC_REG_A] & REG_A_DV_MASK) == REG_A_DV_NORMAL;
}

/* Periodic interrupt period in 32.768 kHz ticks, 0 if off. */
static int64_t periodic_ticks(const struct rtc *s)
{
    unsigned rate = s->cmos[RTC_REG_A] & REG_A_RATE_MASK;
    if (!rate)
        return 0;
    if (rate <= 2)
        rate += 7;                   /* rates 1 and 2 alias 8 and 9 on a 32 kHz base */
    return 1LL << (rate - 1);
}

static int64_t ns_to_ticks(int64_t ns)
{
    return floor_div(ns, NSEC) * TICKS_PER_SEC + (ns - floor_div(ns, NSEC) * NSEC) * TICKS_PER_SEC / NSEC;
}

static bool alarm_field_matches(uint8_t alarm, uint8_t now)
{
    return (alarm & 0xC0) == 0xC0 || alarm == now;   /* 11xxxxxx is "don't care" */
}

static bool alarm_matches(struct rtc *s, int64_t guest_ns)
{
    time_to_regs(s, guest_ns);
    return alarm_field_matches(s->cmos[RTC_SECONDS_ALARM], s->cmos[RTC_SECONDS]) &&
           alarm_field_matches(s->cmos[RTC_MINUTES_ALARM], s->cmos[RTC_MINUTES]) &&
           alarm_field_matches(s->cmos[RTC_HOURS_ALARM], s->cmos[RTC_HOURS]);
}

/* Sets PF/UF/AF for what happened since the last evaluation and IRQF if an
 * enabled one did; returns true when IRQF has just risen. */
static bool rtc_update_flags(struct rtc *s)
{
    int64_t now = guest_now_ns(s), then = s->last_c_read;
    s->last_c_read = now;
    if (!clock_running(s) || now <= then)
        return false;
    uint8_t c = s->cmos[RTC_REG_C], flags = 0;
    int64_t p = periodic_ticks(s);
    if (p && floor_div(ns_to_ticks(now), p) != floor_div(ns_to_ticks(then), p))
        flags |= REG_C_PF;
    if (floor_div(now, NSEC) != floor_div(then, NSEC)) {
        flags |= REG_C_UF;
        if (alarm_matches(s, now))
            flags |= REG_C_AF;
    }
    c |= flags;
    uint8_t b = s->cmos[RTC_REG_B];
    bool irq = ((c & REG_C_PF) && (b & REG_B_PIE)) || ((c & REG_C_AF) && (b & REG_B_AIE)) ||
               ((c & REG_C_UF) && (b & REG_B_UIE));
    bool rose = irq && !(c & REG_C_IRQF);
    if (irq)
        c |= REG_C_IRQF;
    s->cmos[RTC_REG_C] = c;
    return rose;
}

/* Arms the timer for the next event that could raise IRQF; none while IRQF
 * is already up (the guest must read C first) or nothing is enabled. */
static void rtc_arm_timer(struct rtc *s)
{
    uint8_t b = s->cmos[RTC_REG_B];
    int64_t now = guest_now_ns(s), next = 0;
    if (s->timerfd >= 0 && clock_running(s) && !(s->cmos[RTC_REG_C] & REG_C_IRQF)) {
        if (b & (REG_B_UIE | REG_B_AIE))
            next = (floor_div(now, NSEC) + 1) * NSEC;
        int64_t p = periodic_ticks(s);
        if ((b & REG_B_PIE) && p) {
            int64_t tick = (floor_div(ns_to_ticks(now), p) + 1) * p;
            int64_t ns = floor_div(tick, TICKS_PER_SEC) * NSEC +
                         ((tick % TICKS_PER_SEC) * NSEC + TICKS_PER_SEC - 1) / TICKS_PER_SEC;
            if (!next || ns < next)
                next = ns;
        }
    }
    if (!next && !s->timer_armed)
        return;
    struct itimerspec its = { .it_value = { 0, 0 } };
    if (next) {
        int64_t host = next - s->offset_ns;
        its.it_value.tv_sec = host / NSEC;
        its.it_value.tv_nsec = host % NSEC;
    }
    timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
    s->timer_armed = next != 0;
}

static void rtc_timer(void *opaque, uint32_t events)
{
    struct rtc *s = opaque;
    uint64_t expirations;
    if (read(s->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&s->lock);
    s->timer_armed = false;
    if (rtc_update_flags(s) && s->vm)
        irq_line_pulse(s->vm, PLAT_RTC_IRQ);
    rtc_arm_timer(s);
    pthread_mutex_unlock(&s->lock);
}

/* The registers the clock itself updates (not the alarms). */
static bool is_clock_reg(unsigned i)
{
    return i == RTC_SECONDS || i == RTC_MINUTES || i == RTC_HOURS ||
           (i >= RTC_DAY_OF_WEEK && i <= RTC_YEAR) || i == RTC_CENTURY;
}

static uint8_t cmos_read(struct rtc *s, unsigned i)
{
    if (is_clock_reg(i)) {
        if (clock_running(s))
            time_to_regs(s, guest_now_ns(s));
        return s->cmos[i];
    }
    switch (i) {
    case RTC_REG_A: {
        uint8_t a = s->cmos[RTC_REG_A];
        int64_t phase = guest_now_ns(s) - floor_div(guest_now_ns(s), NSEC) * NSEC;
        if (clock_running(s) && phase >= NSEC - UIP_WINDOW_NS)
            a |= REG_A_UIP;
        return a;
    }
    case RTC_REG_C: {
        /* No pulse for flags found here: the guest is reading them now. */
        rtc_update_flags(s);
        uint8_t c = s->cmos[RTC_REG_C];
        s->cmos[RTC_REG_C] = 0;      /* reading C acknowledges everything */
        rtc_arm_timer(s);
        return c;
    }
    case RTC_REG_D:
        return REG_D_VRT;
    default:
        return s->cmos[i];
    }
}

static void cmos_write(struct rtc *s, unsigned i, uint8_t v)
{
    bool running = clock_running(s);
    if (is_clock_reg(i)) {
        /* Outside SET the other fields keep running; the change applies now. */
        if (running)
            time_to_regs(s, guest_now_ns(s));
        s->cmos[i] = v;
        if (running)
            regs_to_offset(s);
        return;
    }
    if ((i == RTC_REG_A || i == RTC_REG_B) && running)
        time_to_regs(s, guest_now_ns(s));  /* freeze what the guest may edit next */
    switch (i) {
    case RTC_REG_A:
        s->cmos[RTC_REG_A] = v & ~REG_A_UIP;
        break;
    case RTC_REG_B:
        /* Setting SET stops updates and clears UIE, per the datasheet. */
        s->cmos[RTC_REG_B] = (v & REG_B_SET) ? (v & ~REG_B_UIE) : v;
        break;
    case RTC_REG_C:
    case RTC_REG_D:
        break;                       /* read-only */
    default:
        s->cmos[i] = v;
    }
    /* Released (SET cleared, divider running): the registers hold the new time. */
    if (!running && clock_running(s))
        regs_to_offset(s);
    rtc_arm_timer(s);
}

static uint64_t rtc_io_read(void *opaque, uint64_t offset, unsigned size)
{
    struct rtc *s = opaque;
    if (offset != 1)
        return 0xFF;                 /* the index register is write-only */
    pthread_mutex_lock(&s->lock);
    uint8_t v = cmos_read(s, s->index);
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void rtc_io_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct rtc *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (offset == 0)
        s->index = value & 0x7F;     /* bit 7 masks NMI: nothing to mask here */
    else
        cmos_write(s, s->index, (uint8_t)value);
    pthread_mutex_unlock(&s->lock);
}

static const struct io_ops rtc_ops = { .read = rtc_io_read, .write = rtc_io_write };

static void put16(uint8_t *cmos, unsigned at, uint64_t v)
{
    v = v > 0xFFFF ? 0xFFFF : v;
    cmos[at] = (uint8_t)v;
    cmos[at + 1] = (uint8_t)(v >> 8);
}

/* Memory size fields as BIOSes (SeaBIOS) read them. */
static void rtc_set_memory(struct rtc *s)
{
    uint64_t total = s->vm ? s->vm->mem.size : 0;
    uint64_t low = total < PLAT_LOWMEM_TOP ? total : PLAT_LOWMEM_TOP;
    uint64_t high = total - low;
    put16(s->cmos, 0x15, 640);                                          /* base memory, KiB */
    uint64_t ext_kib = low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0;
    put16(s->cmos, 0x17, ext_kib);                                      /* above 1 MiB, KiB */
    put16(s->cmos, 0x30, ext_kib);
    put16(s->cmos, 0x34, low > (16 << 20) ? (low - (16 << 20)) >> 16 : 0);  /* above 16 MiB, 64 KiB */
    uint64_t high64k = high >> 16;
    s->cmos[0x5B] = (uint8_t)high64k;                                   /* above 4 GiB, 64 KiB */
    s->cmos[0x5C] = (uint8_t)(high64k >> 8);
    s->cmos[0x5D] = (uint8_t)(high64k >> 16);
    if (s->vm && s->vm->ncpus)
        s->cmos[0x5F] = (uint8_t)(s->vm->ncpus - 1);                    /* SeaBIOS: CPUs - 1 */
}

/* Power-on / RESET: interrupt enables and flags clear; time and NVRAM are
 * battery-backed and stay. */
static void rtc_reset(void *opaque)
{
    struct rtc *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->cmos[RTC_REG_B] &= (uint8_t)~(REG_B_PIE | REG_B_AIE | REG_B_UIE | 0x08);
    s->cmos[RTC_REG_C] = 0;
    rtc_arm_timer(s);
    pthread_mutex_unlock(&s->lock);
}

/* The offset to host time is kept, so the RTC goes on telling the time
 * the guest set (kvmclock, restored by the snapshot, keeps its own). */
#define RTC_STATE_VERSION 1
struct rtc_state {
    uint8_t cmos[CMOS_SIZE];
    uint8_t index, pad[7];
    int64_t offset_ns;
    int64_t last_c_read;
};

static long rtc_state_save(void *opaque, void *buf, size_t max)
{
    struct rtc *s = opaque;
    struct rtc_state st;
    memset(&st, 0, sizeof(st));
    pthread_mutex_lock(&s->lock);
    memcpy(st.cmos, s->cmos, sizeof(st.cmos));
    st.index = s->index;
    st.offset_ns = s->offset_ns;
    st.last_c_read = s->last_c_read;
    pthread_mutex_unlock(&s->lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static int rtc_state_load(void *opaque, const void *buf, size_t len)
{
    struct rtc *s = opaque;
    struct rtc_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    pthread_mutex_lock(&s->lock);
    memcpy(s->cmos, st.cmos, sizeof(s->cmos));
    s->index = st.index;
    s->offset_ns = st.offset_ns;
    s->last_c_read = st.last_c_read;
    s->timer_armed = true;           /* re-arm (or disarm) whatever was set */
    rtc_arm_timer(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const struct state_ops rtc_state_ops = {
    .version = RTC_STATE_VERSION, .save = rtc_state_save, .load = rtc_state_load,
};

int rtc_create(struct vm *vm)
{
    struct rtc *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->vm = vm;
    pthread_mutex_init(&s->lock, NULL);
    s->cmos[RTC_REG_A] = REG_A_DV_NORMAL | 0x06;    /* 1024 Hz periodic rate selected */
    s->cmos[RTC_REG_B] = REG_B_24H;
    s->cmos[RTC_REG_D] = REG_D_VRT;
    rtc_set_memory(s);
    if (vm->cfg && vm->cfg->rtc_localtime) {
        /* Windows reads the CMOS clock as local time; the offset is fixed
         * at power-on, as a real board's clock does not follow DST either. */
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        s->offset_ns = (int64_t)tm.tm_gmtoff * NSEC;
    }
    s->last_c_read = guest_now_ns(s);
    s->timerfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    int r = s->timerfd < 0 ? -errno : 0;
    if (!r && vm->loop)
        r = event_loop_add(vm->loop, s->timerfd, EPOLLIN, rtc_timer, s);
    if (!r)
        r = io_bus_register(&vm->pio, PLAT_RTC_PORT, 2, &rtc_ops, s);
    if (r) {
        if (s->timerfd >= 0)
            close(s->timerfd);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return r;
    }
    vm_add_reset_hook(vm, rtc_reset, s);
    return vm_state_register(vm, "rtc", &rtc_state_ops, s);
}
