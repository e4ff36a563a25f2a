// The browser test's player: Debian's headless Chromium, driven by playwright-core, opens a page
// served from this script's own loopback server (another origin than acebox's) that plays an HLS
// URL with hls.js, tries to read acebox's /status, /metrics and status page, and reports what
// the page saw as one JSON line on stdout.
//
// Usage: node play.mjs URL SECONDS PROFILE_DIR
// URL is acebox's /ace/manifest.m3u8?id=...; PROFILE_DIR a fresh, empty Chromium profile that
// the caller removes. Exits non-zero, with the reason on stderr, when it cannot measure at all
// (no browser, no H.264 through MSE); whether the playback was good is the caller's to judge.

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [url, seconds, profile] = process.argv.slice(2);
if (!url || !(Number(seconds) > 0) || !profile) {
  console.error('usage: node play.mjs URL SECONDS PROFILE_DIR');
  process.exit(2);
}

// Every step has a time limit; the caller also kills this process group if it overstays.
const STEP_MS = 15_000;
const POLL_MS = 250;

// Chromium's own flags: headless, and nothing that would reach beyond loopback on its own.
// The resolver rule also fails every host but localhost and 127.0.0.1.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>acebox browser test</title>
<link rel="icon" href="data:,">
<video id="video" muted playsinline></video>
<script src="/hls.js"></script>
<script>
  const video = document.getElementById('video');
  video.muted = true;
  const report = { mse: false, errors: [], playlist: null, codecs: {}, playing: false };
  window.report = report;
  report.mse = window.MediaSource !== undefined &&
    MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E,mp4a.40.2"');
  if (report.mse && Hls.isSupported()) {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, d) =>
      report.errors.push({ type: d.type, details: d.details, fatal: d.fatal }));
    hls.on(Hls.Events.LEVEL_LOADED, (_, d) => { report.playlist = d.details.url; });
    hls.on(Hls.Events.BUFFER_CODECS, (_, d) => {
      report.codecs = { audio: d.audio?.codec ?? null, video: d.video?.codec ?? null };
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch((e) =>
      report.errors.push({ type: 'play', details: String(e), fatal: true })));
    video.addEventListener('playing', () => { report.playing = true; });
    hls.attachMedia(video);
    hls.loadSource(new URLSearchParams(location.search).get('src'));
  }
  // What acebox reports is not for pages of other origins: each read must fail.
  const acebox = new URL(new URLSearchParams(location.search).get('src')).origin;
  report.reads = {};
  for (const path of ['/status', '/metrics', '/']) {
    fetch(acebox + path).then((r) => r.text()).then(
      (text) => { report.reads[path] = 'read ' + text.length + ' bytes'; },
      (e) => { report.reads[path] = 'blocked: ' + e; });
  }
</script>
`;

/** Serves the page and hls.js from loopback, on a port of its own. */
async function servePage() {
  const hlsPath = fileURLToPath(import.meta.resolve('hls.js/dist/hls.min.js'));
  const hlsJs = await readFile(hlsPath);
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const [type, body] = path === '/' ? ['text/html; charset=utf-8', PAGE]
      : path === '/hls.js' ? ['text/javascript', hlsJs] : [null, null];
    res.writeHead(type ? 200 : 404, type ? { 'content-type': type } : {});
    res.end(body ?? '');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

/** Whether a request for `address` stays on this machine: loopback, or no network at all. */
function isLocal(address) {
  const { protocol, hostname } = new URL(address);
  if (protocol === 'blob:' || protocol === 'data:') return true;
  return hostname === 'localhost' || hostname.startsWith('127.') || hostname === '[::1]';
}

/**
 * Polls the page's report for `seconds`; `played` sums the steps currentTime took forward by
 * no more than the wall time that passed, so a seek (hls.js jumping to the live edge or over a
 * gap) counts for nothing.
 */
async function watch(page, seconds) {
  let played = 0;
  let last = null;
  let report = null;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const at = Date.now();
    report = await page.evaluate(() => {
      const video = document.getElementById('video');
      const quality = video.getVideoPlaybackQuality();
      return {
        ...window.report,
        time: video.currentTime,
        width: video.videoWidth,
        shown: quality.totalVideoFrames - quality.droppedVideoFrames,
        dropped: quality.droppedVideoFrames,
      };
    });
    if (last && report.playing) {
      const step = report.time - last.time;
      if (step > 0 && step <= (at - last.at) / 1000 + 0.1) played += step;
    }
    last = { time: report.time, at };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return { ...report, played };
}

async function main() {
  const server = await servePage();
  const origin = `http://127.0.0.1:${server.address().port}`;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: STEP_MS,
  });
  const outside = [];
  context.on('request', (req) => { if (!isLocal(req.url())) outside.push(req.url()); });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(STEP_MS);
    const messages = [];
    page.on('console', (m) => messages.length < 50 && messages.push(m.text()));
    page.on('pageerror', (e) => messages.push(`page error: ${e.message}`));
    await page.goto(`${origin}/?src=${encodeURIComponent(url)}`);
    const mse = await page.evaluate(() => window.report?.mse);
    if (!mse) {
      throw new Error('this Chromium cannot play H.264/AAC through MSE: ' +
        'MediaSource.isTypeSupported(\'video/mp4; codecs="avc1.42E01E,mp4a.40.2"\') is false');
    }
    const report = await watch(page, Number(seconds));
    const origin_seen = await page.evaluate(() => location.origin);
    console.log(JSON.stringify({ ...report, origin: origin_seen, outside, messages }));
  } finally {
    await context.close().catch(() => {});
    server.close();
  }
}

main().catch((e) => {
  console.error(`play.mjs: ${e.stack ?? e}`);
  process.exit(1);
});
