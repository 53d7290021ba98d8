// Installed in every test page before it loads: record the agent's track with MediaRecorder
// (Opus in WebM, as a browser app would) and, on stop(), decode it in the page to 16 kHz mono
// int16 as base64; and keep the widget's switchboard:* events in window.__events.
window.__capture = { chunks: [], recorder: null };
document.addEventListener('switchboard:agent-audio', (ev) => {
  const rec = new MediaRecorder(new MediaStream([ev.detail.track]), { mimeType: 'audio/webm;codecs=opus' });
  rec.ondataavailable = (e) => window.__capture.chunks.push(e.data);
  rec.start(250);
  window.__capture.recorder = rec;
});
window.__capture.stop = async () => {
  const rec = window.__capture.recorder;
  if (!rec) return '';
  await new Promise((done) => { rec.onstop = done; rec.stop(); });
  const blob = new Blob(window.__capture.chunks, { type: 'audio/webm' });
  const decoded = await new AudioContext().decodeAudioData(await blob.arrayBuffer());
  const frames = Math.ceil(decoded.duration * 16000);
  const offline = new OfflineAudioContext(1, frames, 16000);
  const src = offline.createBufferSource();
  src.buffer = decoded;
  src.connect(offline.destination);
  src.start();
  const pcm = (await offline.startRendering()).getChannelData(0);
  const out = new Int16Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = Math.max(-1, Math.min(1, pcm[i])) * 32767;
  let bin = '';
  const bytes = new Uint8Array(out.buffer);
  for (let i = 0; i < bytes.length; i += 8192) bin += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return btoa(bin);
};
window.__events = [];
for (const type of ['state', 'timing', 'transcript']) {
  document.addEventListener('switchboard:' + type, (ev) => window.__events.push({ type, ...ev.detail }));
}
