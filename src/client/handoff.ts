export { handOff, type HandoffSession, type HandOffOptions, type EndRequestInfo } from '../frontend/handoff-sender';
