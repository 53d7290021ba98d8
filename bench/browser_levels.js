// Installed in each page before it loads (bench paths): the level of the microphone and of
// the agent's track, block by block, on one AudioContext clock, so that the end of the
// caller's speech and the start of the agent's answer are timed on the same clock in the page.
// The microphone is tapped where the page asks for it (getUserMedia, as livekit-client and
// JsSIP both do); the agent's track comes with the page's switchboard:agent-audio event.
window.__levels = { mic: [], agent: [] };
const levelsContext = new AudioContext();
const tapLevels = (track, into) => {
  const source = levelsContext.createMediaStreamSource(new MediaStream([track]));
  const block = levelsContext.createScriptProcessor(512, 1, 1); // ~11 ms at 48 kHz
  block.onaudioprocess = (ev) => {
    const x = ev.inputBuffer.getChannelData(0);
    let sum = 0;
    for (let i = 0; i < x.length; i++) sum += x[i] * x[i];
    into.push([ev.playbackTime, Math.sqrt(sum / x.length)]);
  };
  source.connect(block);
  block.connect(levelsContext.destination); // a processor runs only while it has an output
};
const openMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (constraints) => {
  const stream = await openMedia(constraints);
  for (const track of stream.getAudioTracks()) tapLevels(track, window.__levels.mic);
  return stream;
};
document.addEventListener('switchboard:agent-audio', (ev) => tapLevels(ev.detail.track, window.__levels.agent));
