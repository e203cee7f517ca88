#include "hda_codec.h"

#include <string.h>

#define CODEC_VENDOR_ID   0xD0D00001u      /* no vendor driver claims it: the generic one binds */
#define CODEC_SUBSYS_ID   0xD0D00001u
#define CODEC_REVISION    0x00100100u

/* Parameters (verb F00) */
#define PAR_VENDOR_ID     0x00
#define PAR_SUBSYSTEM_ID  0x01
#define PAR_REV_ID        0x02
#define PAR_NODE_COUNT    0x04
#define PAR_FUNCTION_TYPE 0x05
#define PAR_AUDIO_FG_CAP  0x08
#define PAR_WIDGET_CAP    0x09
#define PAR_PCM           0x0A
#define PAR_STREAM        0x0B
#define PAR_PIN_CAP       0x0C
#define PAR_AMP_IN_CAP    0x0D
#define PAR_CONNLIST_LEN  0x0E
#define PAR_POWER_STATE   0x0F
#define PAR_AMP_OUT_CAP   0x12

#define WCAP_STEREO       (1u << 0)
#define WCAP_FORMAT_OVRD  (1u << 4)
#define WCAP_CONN_LIST    (1u << 8)
#define WCAP_POWER        (1u << 10)
#define WCAP_TYPE(t)      ((uint32_t)(t) << 20)
#define WTYPE_AUD_OUT     0
#define WTYPE_AUD_IN      1
#define WTYPE_PIN         4

#define PCM_48K_16BIT     ((1u << 17) | (1u << 6))
#define PINCAP_OUT        (1u << 4)
#define PINCAP_IN         (1u << 5)
#define POWER_D0_TO_D3    0xF

/* Pin default configs: jack at the rear, green line out / pink mic, 1/8" */
#define CFG_LINE_OUT      0x01014010u
#define CFG_MIC_IN        0x01A19020u

void hda_codec_reset(struct hda_codec *c)
{
    memset(c, 0, sizeof(*c));
    c->config[HDA_CODEC_NID_OUT_PIN] = CFG_LINE_OUT;
    c->config[HDA_CODEC_NID_IN_PIN] = CFG_MIC_IN;
    c->format[HDA_CODEC_NID_DAC] = c->format[HDA_CODEC_NID_ADC] = 0x0011;   /* 48k 16-bit stereo */
}

static uint32_t parameter(unsigned nid, unsigned par)
{
    switch (nid) {
    case 0:
        switch (par) {
        case PAR_VENDOR_ID: return CODEC_VENDOR_ID;
        case PAR_SUBSYSTEM_ID: return CODEC_SUBSYS_ID;
        case PAR_REV_ID: return CODEC_REVISION;
        case PAR_NODE_COUNT: return (HDA_CODEC_NID_AFG << 16) | 1;
        }
        return 0;
    case HDA_CODEC_NID_AFG:
        switch (par) {
        case PAR_NODE_COUNT: return (HDA_CODEC_NID_DAC << 16) | (HDA_CODEC_NODES - HDA_CODEC_NID_DAC);
        case PAR_FUNCTION_TYPE: return 0x01;              /* audio function group */
        case PAR_PCM: return PCM_48K_16BIT;
        case PAR_STREAM: return 1;                        /* PCM */
        case PAR_POWER_STATE: return POWER_D0_TO_D3;
        case PAR_SUBSYSTEM_ID: return CODEC_SUBSYS_ID;
        }
        return 0;
    case HDA_CODEC_NID_DAC:
    case HDA_CODEC_NID_ADC:
        switch (par) {
        case PAR_WIDGET_CAP:
            return nid == HDA_CODEC_NID_DAC
                ? WCAP_TYPE(WTYPE_AUD_OUT) | WCAP_STEREO | WCAP_FORMAT_OVRD | WCAP_POWER
                : WCAP_TYPE(WTYPE_AUD_IN) | WCAP_STEREO | WCAP_FORMAT_OVRD | WCAP_POWER | WCAP_CONN_LIST;
        case PAR_PCM: return PCM_48K_16BIT;
        case PAR_STREAM: return 1;
        case PAR_CONNLIST_LEN: return nid == HDA_CODEC_NID_ADC ? 1 : 0;
        case PAR_POWER_STATE: return POWER_D0_TO_D3;
        }
        return 0;
    case HDA_CODEC_NID_OUT_PIN:
    case HDA_CODEC_NID_IN_PIN:
        switch (par) {
        case PAR_WIDGET_CAP:
            return WCAP_TYPE(WTYPE_PIN) | WCAP_STEREO |
                   (nid == HDA_CODEC_NID_OUT_PIN ? WCAP_CONN_LIST : 0);
        case PAR_PIN_CAP: return nid == HDA_CODEC_NID_OUT_PIN ? PINCAP_OUT : PINCAP_IN;
        case PAR_CONNLIST_LEN: return nid == HDA_CODEC_NID_OUT_PIN ? 1 : 0;
        }
        return 0;
    }
    return 0;
}

static uint32_t connection(unsigned nid, unsigned index)
{
    if (index)
        return 0;
    if (nid == HDA_CODEC_NID_OUT_PIN)
        return HDA_CODEC_NID_DAC;
    if (nid == HDA_CODEC_NID_ADC)
        return HDA_CODEC_NID_IN_PIN;
    return 0;
}

uint32_t hda_codec_command(struct hda_codec *c, uint32_t cmd)
{
    unsigned nid = (cmd >> 20) & 0x7F;
    if (nid >= HDA_CODEC_NODES)
        return 0;
    /* 4-bit verbs carry a 16-bit payload: set/get converter format and amp gain. */
    unsigned verb4 = (cmd >> 16) & 0xF;
    if (verb4 == 0x2) {
        c->format[nid] = (uint16_t)cmd;
        return 0;
    }
    if (verb4 == 0xA)
        return c->format[nid];
    if (verb4 == 0x3 || verb4 == 0xB)
        return 0;                    /* no amplifiers */
    unsigned verb = (cmd >> 8) & 0xFFF, payload = cmd & 0xFF;
    switch (verb) {
    case 0xF00: return parameter(nid, payload);
    case 0xF01: return 0;            /* connection select: one input each */
    case 0xF02: return connection(nid, payload);
    case 0xF05: return (uint32_t)c->power[nid] << 4 | c->power[nid];   /* actual == set */
    case 0x705: c->power[nid] = payload & 3; return 0;
    case 0xF06: return c->stream_chan[nid];
    case 0x706: c->stream_chan[nid] = (uint8_t)payload; return 0;
    case 0xF07: return c->pin_ctl[nid];
    case 0x707: c->pin_ctl[nid] = (uint8_t)payload; return 0;
    case 0xF08: return c->unsol[nid];
    case 0x708: c->unsol[nid] = (uint8_t)payload; return 0;
    case 0xF09: return 0x80000000u; /* pin sense: something is plugged in */
    case 0xF0C: return c->eapd[nid];
    case 0x70C: c->eapd[nid] = (uint8_t)payload; return 0;
    case 0xF1C: return c->config[nid];
    case 0x71C: case 0x71D: case 0x71E: case 0x71F: {
        unsigned shift = 8 * (verb - 0x71C);
        c->config[nid] = (c->config[nid] & ~(0xFFu << shift)) | (uint32_t)payload << shift;
        return 0;
    }
    case 0xF20: return CODEC_SUBSYS_ID;
    case 0x7FF:                      /* function group reset */
        if (nid == HDA_CODEC_NID_AFG)
            hda_codec_reset(c);
        return 0;
    }
    return 0;
}
