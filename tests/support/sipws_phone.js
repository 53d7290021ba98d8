// The browser tier's softphone: JsSIP (window.JsSIP, the test bundle) registers over
// WebSocket and calls a number, as a SaaS app's embedded phone would. It plays the far end
// in an <audio> element (Chrome decodes a remote track only while something consumes it)
// and hands the track to the page's capture helper as the widget does.
window.phone = { log: [] };
window.phone.call = (wsUrl, domain, user, number) => new Promise((resolve, reject) => {
  const ua = new JsSIP.UA({
    sockets: [new JsSIP.WebSocketInterface(wsUrl)],
    uri: `sip:${user}@${domain}`,
    register: true,
  });
  window.phone.ua = ua;
  const log = (what) => window.phone.log.push(what);
  ua.on('registered', () => {
    log('registered');
    const session = ua.call(`sip:${number}@${domain}`, { mediaConstraints: { audio: true, video: false } });
    window.phone.session = session;
    session.on('progress', () => log('progress'));
    session.on('confirmed', () => {
      log('confirmed');
      const receiver = session.connection.getReceivers().find((r) => r.track && r.track.kind === 'audio');
      const audio = document.createElement('audio');
      audio.autoplay = true;
      audio.srcObject = new MediaStream([receiver.track]);
      document.body.append(audio);
      document.dispatchEvent(new CustomEvent('switchboard:agent-audio', { detail: { track: receiver.track } }));
      resolve('confirmed');
    });
    session.on('failed', (e) => { log(`failed: ${e.cause}`); reject(new Error(e.cause)); });
    session.on('ended', (e) => log(`ended: ${e.cause}`));
  });
  ua.on('registrationFailed', (e) => { log(`registration failed: ${e.cause}`); reject(new Error(e.cause)); });
  ua.start();
});
window.phone.hangUp = () => window.phone.session.terminate();
