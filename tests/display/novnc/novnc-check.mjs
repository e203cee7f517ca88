// noVNC, the real browser client, against domus-vnc's WebSocket side:
// fake-vmm paints the test picture, domus-vnc serves it with a password,
// and a page embedding noVNC's library (from npm) runs in Debian's
// Chromium, driven by playwright-core. TAP output.
//
//   node novnc-check.mjs BUILD_DIR
//
// Everything is local: the page and noVNC come from a file server on
// 127.0.0.1, and Chromium's own network traffic is switched off.
import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const build = process.argv[2];
if (!build) {
    console.error('usage: novnc-check.mjs BUILD_DIR');
    process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const novncDir = path.join(here, 'node_modules', '@novnc', 'novnc');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'domus-novnc-'));
const PASSWORD = 'sesame';
const W = 640, H = 480;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let n = 0, failed = false;
const logs = [];
function ok(cond, what, why = '') {
    n++;
    console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${what}${cond || !why ? '' : ` (${why})`}`);
    if (!cond) {
        failed = true;
        for (const f of logs)
            console.log(`# --- ${path.basename(f)}\n` + readText(f).split('\n').slice(-15).map((l) => `# ${l}`).join('\n'));
    }
}
const readText = (f) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };

const children = [];
function start(name, cmd, args) {
    const log = path.join(tmp, `${name}.log`);
    logs.push(log);
    const fd = fs.openSync(log, 'w');
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    children.push(child);
    return { child, log };
}
async function waitLine(log, re, ms = 10000) {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) {
        const m = readText(log).match(re);
        if (m)
            return m;
    }
    return null;
}

// The page and noVNC's modules (ES modules need http, not file://).
function serve() {
    const types = { '.html': 'text/html', '.js': 'text/javascript' };
    const server = http.createServer((req, res) => {
        const url = new URL(req.url, 'http://localhost').pathname;
        let file = null;
        if (url === '/viewer.html')
            file = path.join(here, 'viewer.html');
        else if (url.startsWith('/novnc/')) {
            file = path.resolve(novncDir, '.' + url.slice('/novnc'.length));
            if (!file.startsWith(novncDir + path.sep))
                file = null;
        }
        if (!file || !fs.existsSync(file)) {
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
        fs.createReadStream(file).pipe(res);
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function readPpm(file) {
    const buf = fs.readFileSync(file);
    const m = buf.toString('latin1', 0, 64).match(/^P6\s+(\d+)\s+(\d+)\s+255\s/);
    if (!m)
        throw new Error(`${file} is not a PPM`);
    return { w: +m[1], h: +m[2], rgb: buf.subarray(m[0].length) };
}

// The pixels of noVNC's canvas, as RGBA.
async function canvasPixels(page) {
    const b64 = await page.evaluate(() => {
        const c = document.querySelector('#screen canvas');
        if (!c || !c.width || !c.height)
            return null;
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let s = '';
        for (let i = 0; i < px.length; i += 32768)
            s += String.fromCharCode.apply(null, px.subarray(i, i + 32768));
        return `${c.width}x${c.height}:${btoa(s)}`;
    });
    if (!b64)
        return null;
    const [size, data] = b64.split(':');
    const [w, h] = size.split('x').map(Number);
    return { w, h, rgba: Buffer.from(data, 'base64') };
}

// Compares the canvas with an expected frame; returns null when equal,
// else what differs.
function frameDiff(canvas, want) {
    if (!canvas)
        return 'no canvas';
    if (canvas.w !== want.w || canvas.h !== want.h)
        return `canvas is ${canvas.w}x${canvas.h}, the guest's mode ${want.w}x${want.h}`;
    let bad = 0, first = null;
    for (let i = 0; i < want.w * want.h; i++) {
        const c = canvas.rgba, e = want.rgb;
        if (c[4 * i] !== e[3 * i] || c[4 * i + 1] !== e[3 * i + 1] || c[4 * i + 2] !== e[3 * i + 2]) {
            if (!bad++) {
                const hex = (b, o) => [0, 1, 2].map((k) => b[o + k].toString(16).padStart(2, '0')).join('');
                first = `(${i % want.w},${Math.floor(i / want.w)}) is ${hex(c, 4 * i)}, want ${hex(e, 3 * i)}`;
            }
        }
    }
    return bad ? `${bad} pixels differ, first ${first}` : null;
}

async function waitFrame(page, want, ms = 10000) {
    let diff = 'never checked';
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100))
        if (!(diff = frameDiff(await canvasPixels(page), want)))
            return null;
    return diff;
}

async function main() {
    const chan = path.join(tmp, 'chan'), frameFile = path.join(tmp, 'frame.ppm');
    const fake = start('fake-vmm', path.join(build, 'tests/display/fake-vmm'), [chan, `${W}x${H}`, frameFile]);
    if (!await waitLine(fake.log, new RegExp(`^mode ${W} ${H}$`, 'm'))) {
        console.log('1..0 # fake-vmm did not start');
        return 1;
    }
    fs.writeFileSync(path.join(tmp, 'pw'), `${PASSWORD}\n`);
    const vnc = start('domus-vnc', path.join(build, 'vdisplay/domus-vnc'),
                      ['--channel', chan, '--password-file', path.join(tmp, 'pw')]);
    const listening = await waitLine(vnc.log, /listening on 127\.0\.0\.1:(\d+)/);
    if (!listening) {
        console.log('1..0 # domus-vnc did not start');
        return 1;
    }
    const wsUrl = `ws://127.0.0.1:${listening[1]}`;
    const server = await serve();
    const viewer = (pw) => `http://127.0.0.1:${server.address().port}/viewer.html?` +
        new URLSearchParams({ url: wsUrl, password: pw });

    console.log('1..5');
    const context = await chromium.launchPersistentContext(path.join(tmp, 'chromium-profile'), {
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
        const page = await context.newPage();
        const console_ = [];
        page.on('console', (m) => console_.push(`${m.type()}: ${m.text()}`));
        page.on('pageerror', (e) => console_.push(`page error: ${e.message}`));
        await page.goto(viewer(PASSWORD));
        const status = page.locator('#status');
        await status.filter({ hasText: /^(connected|authentication failed.*|connection lost|disconnected)$/ })
            .waitFor({ timeout: 10000 }).catch(() => {});
        const state = await status.textContent();
        const frame = readPpm(frameFile);
        const diff = state === 'connected' ? await waitFrame(page, frame) : `noVNC says "${state}"`;
        ok(!diff, `noVNC logs in over ws:// with the password; its canvas shows the guest's frame pixel for pixel`,
           diff + (console_.length ? `; page console: ${console_.slice(-5).join(' | ')}` : ''));

        // Keys as a user types them into the page: a letter, a shifted
        // letter (Shift travels as its own key) and Enter.
        const canvas = page.locator('#screen canvas');
        await canvas.click({ position: { x: 100, y: 50 } });
        await page.keyboard.press('q');
        await page.keyboard.press('Shift+A');
        await page.keyboard.press('Enter');
        const keys = [/^key 16 1$/m, /^key 16 0$/m, /^key 42 1$/m, /^key 30 1$/m, /^key 30 0$/m, /^key 42 0$/m,
                      /^key 28 1$/m];
        let missing = null;
        for (const re of keys)
            if (!await waitLine(fake.log, re, 5000)) {
                missing = re.source;
                break;
            }
        ok(!missing, 'keys typed in the page reach the guest as evdev codes (q: 16, Shift+A: 42+30, Enter: 28)',
           `no "${missing}" from fake-vmm`);
        ok(await waitLine(fake.log, /^pointer 100 50 1$/m, 5000),
           'a click on the canvas reaches the guest at the same coordinates', 'no "pointer 100 50 1"');

        // KEY_D makes fake-vmm draw an 8x16 cell and damage its whole rows
        // (as fbdev does for a text cursor): noVNC's canvas follows.
        await page.keyboard.press('d');
        const withCell = { ...frame, rgb: Buffer.from(frame.rgb) };
        for (let y = 96; y < 112; y++)
            withCell.rgb.fill(0xff, 3 * (y * W + 96), 3 * (y * W + 104));
        const cellDiff = await waitFrame(page, withCell, 5000);
        ok(!cellDiff, 'a guest update after the input reaches noVNC\'s canvas, pixel for pixel', cellDiff);

        // A wrong password: refused, noVNC says so, and nobody else is disturbed.
        const bad = await context.newPage();
        await bad.goto(viewer('wrong'));
        const badStatus = bad.locator('#status');
        await badStatus.filter({ hasText: /^(connected|authentication failed.*)$/ })
            .waitFor({ timeout: 10000 }).catch(() => {});
        const badState = await badStatus.textContent();
        const badCanvas = await canvasPixels(bad);
        const stillUp = vnc.child.exitCode === null && await status.textContent() === 'connected';
        ok(badState.startsWith('authentication failed') && !(badCanvas && badCanvas.w === W) && stillUp,
           `a wrong password is refused: noVNC shows "${badState}"; domus-vnc and the first page go on`,
           `status "${badState}", canvas ${badCanvas ? `${badCanvas.w}x${badCanvas.h}` : 'none'}, ` +
           `domus-vnc ${vnc.child.exitCode === null ? 'running' : 'exited'}`);
    } finally {
        await context.close();
        server.close();
    }
    return failed ? 1 : 0;
}

let rc = 1;
try {
    rc = await main();
} catch (e) {
    console.log(`not ok ${n + 1} - ${e.message.split('\n')[0]}`);
    console.log(e.stack.split('\n').map((l) => `# ${l}`).join('\n'));
} finally {
    for (const c of children)
        c.kill();
    fs.rmSync(tmp, { recursive: true, force: true });
}
process.exit(rc);
