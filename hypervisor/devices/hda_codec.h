/* The HDA codec behind the controller: one audio function group with a
 * line-out path (DAC 2 -> pin 3) and a mic-in path (pin 5 -> ADC 4), the
 * shape every HDA driver's generic parser understands (Linux
 * snd-hda-codec-generic, the BSDs' hdaa, Windows' HDAudio class driver). */
#pragma once
#include <stdint.h>

#define HDA_CODEC_NID_AFG     1
#define HDA_CODEC_NID_DAC     2
#define HDA_CODEC_NID_OUT_PIN 3
#define HDA_CODEC_NID_ADC     4
#define HDA_CODEC_NID_IN_PIN  5
#define HDA_CODEC_NODES       6

struct hda_codec {
    /* Per-node settable state, indexed by NID */
    uint16_t format[HDA_CODEC_NODES];      /* converter format (verb 2/A) */
    uint8_t stream_chan[HDA_CODEC_NODES];  /* converter stream tag << 4 | channel */
    uint8_t pin_ctl[HDA_CODEC_NODES];
    uint8_t power[HDA_CODEC_NODES];
    uint8_t unsol[HDA_CODEC_NODES];
    uint8_t eapd[HDA_CODEC_NODES];
    uint32_t config[HDA_CODEC_NODES];      /* pin default configuration */
};

void hda_codec_reset(struct hda_codec *c);
/* One command (NID and verb, bits 27:0 of a CORB entry); returns the response. */
uint32_t hda_codec_command(struct hda_codec *c, uint32_t cmd);
