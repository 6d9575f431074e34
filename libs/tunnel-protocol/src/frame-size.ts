import type { AgentFrame, BrokerFrame } from '@st/proto';
import { dataBytes } from './gathered-data';

/**
 * Roughly how many bytes a frame adds to a batch: its body bytes plus a small allowance for the
 * rest. FrameSender cuts batches on it; exactness does not matter, bodies dominate.
 */
export function agentFrameSize(frame: AgentFrame): number {
  const f = frame.frame;
  if (!f) return 0;
  if (f.$case === 'data') return dataBytes(f.value) + 16;
  if (f.$case === 'head') return f.value.body.length + 128;
  return 16;
}

export function brokerFrameSize(frame: BrokerFrame): number {
  const f = frame.frame;
  if (!f) return 0;
  if (f.$case === 'data') return dataBytes(f.value) + 16;
  if (f.$case === 'open') return f.value.body.length + 256;
  return 16;
}
