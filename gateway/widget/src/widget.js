/**
 * Switchboard click-to-call widget: one <script> tag gives a page a WebRTC call to a VoiceAgent.
 *
 *   <script src="https://gateway.example/widget.js" data-voiceagent="namespace/name"
 *           data-embed-key="…optional…"></script>
 *
 * The gateway that serves this file issues the session (POST /v1/web/{ns}/{name}/session);
 * the call itself goes straight to LiveKit. The widget renders into a shadow root next to the
 * script tag (or into the element named by data-target) and reports what happens as DOM events
 * on its host element, so a page can follow the call without reaching into the widget:
 *   switchboard:state       detail {state, code?, message?}  idle|connecting|in-call|ended|error
 *   switchboard:timing      detail {name, ms}  ms since the click: session (token issued),
 *                           connected (in the room), agent-joined, first-audio (agent heard)
 *   switchboard:agent-audio detail {track}     the agent's MediaStreamTrack, once subscribed
 *   switchboard:transcript  detail {speaker, text, final}
 */
import { Room, RoomEvent, Track } from 'livekit-client';
import css from './widget.css';

const TRANSCRIPTION_TOPIC = 'lk.transcription';
const EMBED_KEY_HEADER = 'X-Switchboard-Embed-Key';
// what the caller reads for each refusal code of the session endpoint (and the widget's own)
const MESSAGES = {
  unknown_voiceagent: 'This agent does not take web calls.',
  origin_required: 'This page cannot start calls with this agent.',
  origin_not_allowed: 'This site is not allowed to call this agent.',
  embed_key_required: 'This call button is not set up correctly (it needs an embed key).',
  bad_embed_key: 'This call button is not set up correctly (its embed key was refused).',
  rate_limited: 'Too many calls were started from here. Please wait a moment and try again.',
  too_many_sessions: 'All lines are busy. Please try again in a minute.',
  livekit_unavailable: 'The voice service is unavailable right now. Please try again later.',
  gateway_unreachable: 'The call service cannot be reached. Check your connection.',
  connect_failed: 'The voice service could not be reached. Please try again later.',
  mic_denied: 'Microphone access is blocked. Allow the microphone to call.',
  no_agent: 'No one is free to take the call. Please try again in a minute.',
};
// the agent joins within a second or two when a worker is free; past this, none is coming
const AGENT_WAIT_MS = 15000;
const SPEECH_LEVEL = 0.02; // RMS above which received audio counts as speech (first-audio timing)

class CallError extends Error {
  constructor(code, message) {
    super(message || MESSAGES[code] || code);
    this.code = code;
  }
}

function humanMessage(err) {
  return MESSAGES[err.code] || err.message;
}

function rms(analyser, buffer) {
  analyser.getFloatTimeDomainData(buffer);
  let sum = 0;
  for (const x of buffer) sum += x * x;
  return Math.sqrt(sum / buffer.length);
}

class SwitchboardCall {
  constructor(host, { gateway, voiceagent, embedKey }) {
    const [namespace, name] = voiceagent.split('/');
    if (!namespace || !name) throw new Error('data-voiceagent must be "namespace/name"');
    this.host = host;
    this.sessionUrl = `${gateway}/v1/web/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/session`;
    this.embedKey = embedKey;
    this.label = name;
    this.room = null;
    this.audio = null;
    this.timers = [];
    this.render();
  }

  render() {
    const root = this.host.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${css}</style>
      <div class="sb" role="group" aria-label="Call ${this.label}">
        <div class="controls">
          <button type="button" class="call">Call</button>
          <button type="button" class="mute" aria-pressed="false" hidden>Mute</button>
          <button type="button" class="hangup" hidden>Hang up</button>
          <meter class="level" min="0" max="1" value="0" aria-label="Microphone level" hidden></meter>
        </div>
        <p class="status" role="status" aria-live="polite">Ready to call</p>
        <ol class="transcript" aria-label="Transcript" role="log" aria-live="polite"></ol>
      </div>`;
    const $ = (sel) => root.querySelector(sel);
    this.ui = {
      call: $('.call'), mute: $('.mute'), hangup: $('.hangup'), level: $('.level'),
      status: $('.status'), transcript: $('.transcript'), box: $('.sb'),
    };
    this.ui.call.addEventListener('click', () => this.start());
    this.ui.hangup.addEventListener('click', () => this.hangUp('You hung up.'));
    this.ui.mute.addEventListener('click', () => this.toggleMute());
    this.ui.box.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && this.room) this.hangUp('You hung up.');
    });
  }

  emit(type, detail) {
    this.host.dispatchEvent(new CustomEvent(`switchboard:${type}`, { detail, bubbles: true, composed: true }));
  }

  setState(state, message, code) {
    this.ui.box.dataset.state = state;
    this.ui.status.textContent = message;
    this.ui.status.classList.toggle('error', state === 'error');
    const live = state === 'connecting' || state === 'in-call';
    this.ui.call.hidden = live;
    this.ui.hangup.hidden = !live;
    this.ui.mute.hidden = state !== 'in-call';
    this.ui.level.hidden = state !== 'in-call';
    this.emit('state', { state, message, code });
  }

  timing(name) {
    this.emit('timing', { name, ms: performance.now() - this.clickedAt });
  }

  async requestSession() {
    const headers = this.embedKey ? { [EMBED_KEY_HEADER]: this.embedKey } : {};
    let resp;
    try {
      resp = await fetch(this.sessionUrl, { method: 'POST', headers, mode: 'cors', credentials: 'omit' });
    } catch {
      throw new CallError('gateway_unreachable');
    }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new CallError(body.error || `http_${resp.status}`, body.message);
    return body;
  }

  async start() {
    if (this.room) return;
    this.clickedAt = performance.now();
    this.ui.transcript.replaceChildren();
    this.setState('connecting', 'Connecting…');
    this.ui.hangup.focus();
    const room = new Room();
    this.room = room;
    try {
      const session = await this.requestSession();
      this.timing('session');
      this.wire(room);
      await room.connect(session.url, session.token).catch(() => {
        throw new CallError('connect_failed');
      });
      this.timing('connected');
      if (room.remoteParticipants.size) this.agentJoined();
      else this.timers.push(setTimeout(() => this.noAgent(room), AGENT_WAIT_MS));
      await room.localParticipant.setMicrophoneEnabled(true).catch((err) => {
        throw new CallError(err && err.name === 'NotAllowedError' ? 'mic_denied' : 'connect_failed');
      });
      this.startMeter();
      if (this.room === room) this.setState('in-call', `In a call with ${this.label}`);
    } catch (err) {
      await this.teardown();
      this.setState('error', humanMessage(err), err.code);
      this.ui.call.focus();
    }
  }

  wire(room) {
    room.on(RoomEvent.ParticipantConnected, () => this.agentJoined());
    room.on(RoomEvent.TrackSubscribed, (track) => {
      if (track.kind !== Track.Kind.Audio) return;
      this.audio = track.attach();
      this.audio.hidden = true;
      this.ui.box.append(this.audio);
      this.watchFirstAudio(track.mediaStreamTrack);
      this.emit('agent-audio', { track: track.mediaStreamTrack });
    });
    room.on(RoomEvent.ParticipantDisconnected, () => {
      if (room.remoteParticipants.size === 0) this.hangUp('The call has ended.');
    });
    room.on(RoomEvent.Disconnected, () => {
      if (this.room === room) this.hangUp('The call has ended.');
    });
    room.registerTextStreamHandler(TRANSCRIPTION_TOPIC, (reader, from) => this.transcribe(room, reader, from));
  }

  agentJoined() {
    if (this.joined) return;
    this.joined = true;
    this.timing('agent-joined');
  }

  async noAgent(room) {
    if (this.room !== room || this.joined) return;
    await this.teardown();
    this.setState('error', MESSAGES.no_agent, 'no_agent');
    this.ui.call.focus();
  }

  async transcribe(room, reader, from) {
    const attrs = reader.info.attributes || {};
    const speaker = from.identity === room.localParticipant.identity ? 'caller' : 'agent';
    const segment = attrs['lk.segment_id'] || reader.info.id;
    let text = '';
    for await (const chunk of reader) {
      text += chunk;
      this.showLine(segment, speaker, text);
    }
    this.emit('transcript', { speaker, text, final: attrs['lk.transcription_final'] === 'true' });
  }

  showLine(segment, speaker, text) {
    let item = this.ui.transcript.querySelector(`li[data-segment="${CSS.escape(segment)}"]`);
    if (!item) {
      item = document.createElement('li');
      item.dataset.segment = segment;
      item.dataset.speaker = speaker;
      this.ui.transcript.append(item);
    }
    item.textContent = `${speaker === 'caller' ? 'You' : this.label}: ${text}`;
    item.scrollIntoView({ block: 'nearest' });
  }

  analyser(mediaStreamTrack) {
    this.context = this.context || new AudioContext();
    const node = this.context.createAnalyser();
    node.fftSize = 512;
    this.context.createMediaStreamSource(new MediaStream([mediaStreamTrack])).connect(node);
    return [node, new Float32Array(node.fftSize)];
  }

  startMeter() {
    const pub = this.room.localParticipant.getTrackPublication(Track.Source.Microphone);
    if (!pub || !pub.track) return;
    const [node, buffer] = this.analyser(pub.track.mediaStreamTrack);
    // a timer, not requestAnimationFrame: a hidden tab still shows the level when it returns
    this.timers.push(setInterval(() => {
      this.ui.level.value = Math.min(1, rms(node, buffer) * 4);
    }, 100));
  }

  watchFirstAudio(mediaStreamTrack) {
    const [node, buffer] = this.analyser(mediaStreamTrack);
    const timer = setInterval(() => {
      if (rms(node, buffer) < SPEECH_LEVEL) return;
      clearInterval(timer);
      this.timing('first-audio');
    }, 10);
    this.timers.push(timer);
  }

  toggleMute() {
    const muted = this.ui.mute.getAttribute('aria-pressed') !== 'true';
    this.room.localParticipant.setMicrophoneEnabled(!muted);
    this.ui.mute.setAttribute('aria-pressed', String(muted));
    this.ui.mute.textContent = muted ? 'Unmute' : 'Mute';
  }

  async teardown() {
    const room = this.room;
    this.room = null;
    this.joined = false;
    this.timers.forEach((t) => { clearInterval(t); clearTimeout(t); });
    this.timers = [];
    if (this.audio) this.audio.remove();
    this.audio = null;
    if (this.context) await this.context.close().catch(() => {});
    this.context = null;
    if (room) await room.disconnect();
  }

  async hangUp(message) {
    if (!this.room) return;
    await this.teardown();
    this.ui.mute.setAttribute('aria-pressed', 'false');
    this.ui.mute.textContent = 'Mute';
    this.setState('ended', message);
    this.ui.call.focus();
  }
}

function mount(script) {
  const gateway = script.dataset.gateway || new URL('.', script.src).href.replace(/\/$/, '');
  const target = script.dataset.target && document.querySelector(script.dataset.target);
  const host = target || document.createElement('div');
  if (!target) script.after(host);
  host.classList.add('switchboard-call');
  host.switchboard = new SwitchboardCall(host, {
    gateway, voiceagent: script.dataset.voiceagent || '', embedKey: script.dataset.embedKey,
  });
}

mount(document.currentScript);
