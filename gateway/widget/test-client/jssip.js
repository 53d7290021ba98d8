// The browser tier's SIP-over-WebSocket softphone: JsSIP as a page global (tests only; the
// gateway never serves it). Bundled by the same esbuild as the widget.
import JsSIP from 'jssip';

window.JsSIP = JsSIP;
