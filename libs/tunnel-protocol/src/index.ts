export { TunnelError, errorFromExchangeCode, exchangeCodeFor } from './tunnel-error';
export type { TunnelErrorKind } from './tunnel-error';
export { FrameSender, MAX_BATCH_BYTES, MAX_FRAMES_PER_BATCH, MAX_IN_FLIGHT_BYTES } from './frame-sender';
export type { FrameSenderOptions, FrameTransport } from './frame-sender';
export { SendWindow, ReceiveWindow } from './send-window';
export { toWireHeaders, fromWireHeaders, headerValue, isHopByHop } from './http-headers';
export * from './protocol-constants';
export { agentFrameSize, brokerFrameSize } from './frame-size';
export { exchangeIdOf, isAgentControlFrame, isBrokerControlFrame } from './control-frames';
