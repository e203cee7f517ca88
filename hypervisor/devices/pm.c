/* ACPI fixed hardware at PLAT_PM_BASE: PM1a event (status/enable) and
 * control blocks, the 24-bit PM timer and GPE0. ACPI mode is always on
 * (SCI_EN reads 1, SMI_CMD is 0 in the FADT), so the SCI is simply the OR
 * of every enabled status bit, as a level on PLAT_SCI_IRQ. */
#include "devices.h"
#include "core/irq.h"
#include "core/platform.h"
#include "core/state.h"
#include "core/vm.h"

#include <errno.h>
#include <string.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

/* PM1 status / enable bits */
#define PM1_TMR          0x0001
#define PM1_GBL          0x0020
#define PM1_PWRBTN       0x0100
#define PM1_SLPBTN       0x0200
#define PM1_RTC          0x0400
#define PM1_EN_MASK      (PM1_TMR | PM1_GBL | PM1_PWRBTN | PM1_SLPBTN | PM1_RTC)

/* PM1 control */
#define PM1_CNT_SCI_EN   0x0001
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP  (7u << PM1_CNT_SLP_TYP_SHIFT)
#define PM1_CNT_SLP_EN   0x2000      /* write-only: go to sleep state SLP_TYP */
#define PM1_CNT_RW_MASK  (0x0006 | PM1_CNT_SLP_TYP)  /* BM_RLD, GBL_RLS, SLP_TYP */

#define PM_TIMER_HZ      3579545ULL
#define GPE0_HALF        (PLAT_GPE0_BLK_LEN / 2)

struct pm {
    struct vm *vm;
    pthread_mutex_t lock;
    uint16_t pm1_sts, pm1_en, pm1_cnt;
    uint32_t gpe_sts, gpe_en;
    uint32_t last_tmr;               /* for TMR_STS: bit 23 toggles */
    int sci_level;
};

static uint32_t pm_timer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ticks = (uint64_t)ts.tv_sec * PM_TIMER_HZ + (uint64_t)ts.tv_nsec * PM_TIMER_HZ / 1000000000ULL;
    return (uint32_t)(ticks & 0xFFFFFF);
}

static void pm_update_sci(struct pm *s)
{
    int level = (s->pm1_sts & s->pm1_en) || (s->gpe_sts & s->gpe_en);
    if (level != s->sci_level) {
        s->sci_level = level;
        if (s->vm)
            irq_line_set(s->vm, PLAT_SCI_IRQ, level);
    }
}

/* The timer's carry out of bit 23, noticed when the guest looks (there is
 * no timer interrupt source; Linux never enables TMR_EN). */
static void pm_timer_check(struct pm *s)
{
    uint32_t now = pm_timer_now();
    if ((now ^ s->last_tmr) & 0x800000)
        s->pm1_sts |= PM1_TMR;
    s->last_tmr = now;
}

static uint8_t byte_of(uint32_t v, unsigned i)
{
    return (uint8_t)(v >> (8 * i));
}

static uint8_t pm_read_byte(struct pm *s, unsigned off)
{
    unsigned evt = PLAT_PM1_EVT - PLAT_PM_BASE, cnt = PLAT_PM1_CNT - PLAT_PM_BASE;
    unsigned tmr = PLAT_PM_TMR - PLAT_PM_BASE, gpe = PLAT_GPE0_BLK - PLAT_PM_BASE;
    if (off >= evt && off < evt + 2)
        return byte_of(s->pm1_sts, off - evt);
    if (off >= evt + 2 && off < evt + PLAT_PM1_EVT_LEN)
        return byte_of(s->pm1_en, off - evt - 2);
    if (off >= cnt && off < cnt + PLAT_PM1_CNT_LEN)
        return byte_of(s->pm1_cnt, off - cnt);
    if (off >= tmr && off < tmr + PLAT_PM_TMR_LEN)
        return byte_of(pm_timer_now(), off - tmr);
    if (off >= gpe && off < gpe + GPE0_HALF)
        return byte_of(s->gpe_sts, off - gpe);
    if (off >= gpe + GPE0_HALF && off < gpe + PLAT_GPE0_BLK_LEN)
        return byte_of(s->gpe_en, off - gpe - GPE0_HALF);
    return 0;
}

static void set_byte16(uint16_t *reg, unsigned i, uint8_t v)
{
    *reg = (uint16_t)((*reg & ~(0xFFu << (8 * i))) | ((unsigned)v << (8 * i)));
}

static void set_byte32(uint32_t *reg, unsigned i, uint8_t v)
{
    *reg = (*reg & ~(0xFFu << (8 * i))) | ((uint32_t)v << (8 * i));
}

static void pm_write_byte(struct pm *s, unsigned off, uint8_t v)
{
    unsigned evt = PLAT_PM1_EVT - PLAT_PM_BASE, cnt = PLAT_PM1_CNT - PLAT_PM_BASE;
    unsigned gpe = PLAT_GPE0_BLK - PLAT_PM_BASE;
    if (off >= evt && off < evt + 2) {
        s->pm1_sts &= (uint16_t)~((unsigned)v << (8 * (off - evt)));   /* write 1 to clear */
    } else if (off >= evt + 2 && off < evt + PLAT_PM1_EVT_LEN) {
        set_byte16(&s->pm1_en, off - evt - 2, v);
        s->pm1_en &= PM1_EN_MASK;
    } else if (off >= cnt && off < cnt + PLAT_PM1_CNT_LEN) {
        uint16_t val = s->pm1_cnt;
        set_byte16(&val, off - cnt, v);
        s->pm1_cnt = (uint16_t)((val & PM1_CNT_RW_MASK) | PM1_CNT_SCI_EN);
        if ((val & PM1_CNT_SLP_EN) &&
            ((val & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_TYP_SHIFT) == PLAT_ACPI_S5_SLP_TYP && s->vm)
            vm_request(s->vm, VM_REQ_POWEROFF);
        /* Other sleep states are not offered in the DSDT; ignore them. */
    } else if (off >= gpe && off < gpe + GPE0_HALF) {
        s->gpe_sts &= ~((uint32_t)v << (8 * (off - gpe)));
    } else if (off >= gpe + GPE0_HALF && off < gpe + PLAT_GPE0_BLK_LEN) {
        set_byte32(&s->gpe_en, off - gpe - GPE0_HALF, v);
    }
}

static uint64_t pm_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pm *s = opaque;
    uint64_t v = 0;
    pthread_mutex_lock(&s->lock);
    pm_timer_check(s);
    pm_update_sci(s);
    if (offset == PLAT_PM_TMR - PLAT_PM_BASE && size == 4) {
        v = pm_timer_now();          /* one sample, not four */
    } else {
        for (unsigned i = 0; i < size && offset + i < PLAT_PM_LEN; i++)
            v |= (uint64_t)pm_read_byte(s, (unsigned)offset + i) << (8 * i);
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void pm_write(void *opaque, uint64_t offset, uint64_t value, unsigned size)
{
    struct pm *s = opaque;
    pthread_mutex_lock(&s->lock);
    /* SLP_TYP and SLP_EN share PM1_CNT's high byte, so byte-wise is exact. */
    for (unsigned i = 0; i < size && offset + i < PLAT_PM_LEN; i++)
        pm_write_byte(s, (unsigned)offset + i, (uint8_t)(value >> (8 * i)));
    pm_update_sci(s);
    pthread_mutex_unlock(&s->lock);
}

static const struct io_ops pm_ops = { .read = pm_read, .write = pm_write };

static void pm_power_button(void *opaque)
{
    struct pm *s = opaque;
    pthread_mutex_lock(&s->lock);
    s->pm1_sts |= PM1_PWRBTN;
    pm_update_sci(s);
    pthread_mutex_unlock(&s->lock);
}

static void pm_reset_locked(struct pm *s)
{
    s->pm1_sts = s->pm1_en = 0;
    s->pm1_cnt = PM1_CNT_SCI_EN;
    s->gpe_sts = s->gpe_en = 0;
    s->last_tmr = pm_timer_now();
    pm_update_sci(s);
}

static void pm_reset(void *opaque)
{
    struct pm *s = opaque;
    pthread_mutex_lock(&s->lock);
    pm_reset_locked(s);
    pthread_mutex_unlock(&s->lock);
}

#define PM_STATE_VERSION 1
struct pm_state {
    uint16_t pm1_sts, pm1_en, pm1_cnt, pad;
    uint32_t gpe_sts, gpe_en;
};

static long pm_state_save(void *opaque, void *buf, size_t max)
{
    struct pm *s = opaque;
    pthread_mutex_lock(&s->lock);
    struct pm_state st = { .pm1_sts = s->pm1_sts, .pm1_en = s->pm1_en, .pm1_cnt = s->pm1_cnt,
                           .gpe_sts = s->gpe_sts, .gpe_en = s->gpe_en };
    pthread_mutex_unlock(&s->lock);
    return state_save_struct(buf, max, &st, sizeof(st));
}

static int pm_state_load(void *opaque, const void *buf, size_t len)
{
    struct pm *s = opaque;
    struct pm_state st;
    if (state_check_size(len, sizeof(st)) < 0)
        return -EINVAL;
    memcpy(&st, buf, sizeof(st));
    pthread_mutex_lock(&s->lock);
    s->pm1_sts = st.pm1_sts, s->pm1_en = st.pm1_en, s->pm1_cnt = st.pm1_cnt;
    s->gpe_sts = st.gpe_sts, s->gpe_en = st.gpe_en;
    s->last_tmr = pm_timer_now();
    s->sci_level = -1;               /* drive the line whatever KVM had */
    pm_update_sci(s);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static const struct state_ops pm_state_ops = {
    .version = PM_STATE_VERSION, .save = pm_state_save, .load = pm_state_load,
};

int pm_create(struct vm *vm)
{
    struct pm *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->vm = vm;
    pthread_mutex_init(&s->lock, NULL);
    pm_reset_locked(s);
    int r = io_bus_register(&vm->pio, PLAT_PM_BASE, PLAT_PM_LEN, &pm_ops, s);
    if (r) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        return r;
    }
    vm->power_button_opaque = s;
    vm->power_button = pm_power_button;
    vm_add_reset_hook(vm, pm_reset, s);
    return vm_state_register(vm, "pm", &pm_state_ops, s);
}
