/* CMOS RTC: the clock a guest reads at power-on is UTC, or the host's local
 * time with --rtc localtime (what Windows expects). */
#include "core/bus.h"
#include "core/config.h"
#include "core/platform.h"
#include "core/vm.h"
#include "devices/devices.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t cmos_read(struct vm *vm, uint8_t index)
{
    uint8_t v = 0;
    io_bus_write(&vm->pio, PLAT_RTC_PORT, &index, 1);
    io_bus_read(&vm->pio, PLAT_RTC_PORT + 1, &v, 1);
    return v;
}

static unsigned bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0x0F);
}

/* Minutes since midnight the guest reads, and the host's UTC ones read
 * around it (retried when a minute boundary falls in between). */
static void guest_and_utc_minutes(bool localtime, unsigned *guest, unsigned *utc)
{
    struct vm_config cfg = { .rtc_localtime = localtime };
    struct vm vm = { .vm_fd = -1, .kvm_fd = -1, .cfg = &cfg };
    io_bus_init(&vm.pio, "pio");
    io_bus_init(&vm.mmio, "mmio");
    g_assert_cmpint(rtc_create(&vm), ==, 0);
    for (int tries = 0; tries < 3; tries++) {
        time_t before = time(NULL);
        unsigned m = bcd(cmos_read(&vm, 4)) * 60 + bcd(cmos_read(&vm, 2));
        time_t after = time(NULL);
        if (before / 60 != after / 60)
            continue;
        struct tm tm;
        gmtime_r(&before, &tm);
        *guest = m;
        *utc = (unsigned)(tm.tm_hour * 60 + tm.tm_min);
        break;
    }
    io_bus_destroy(&vm.pio);
    io_bus_destroy(&vm.mmio);
}

static void test_utc(void)
{
    unsigned guest = 9999, utc = 0;
    guest_and_utc_minutes(false, &guest, &utc);
    g_assert_cmpuint(guest, ==, utc);
}

static void test_localtime(void)
{
    unsigned guest = 9999, utc = 0;
    guest_and_utc_minutes(true, &guest, &utc);
    /* TZ is UTC+05:30 (set in main): the guest's clock runs 330 minutes ahead. */
    g_assert_cmpuint((guest + 1440 - utc) % 1440, ==, 330);
}

int main(int argc, char **argv)
{
    setenv("TZ", "IST-5:30", 1);
    tzset();
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/rtc/utc", test_utc);
    g_test_add_func("/rtc/localtime", test_localtime);
    return g_test_run();
}
