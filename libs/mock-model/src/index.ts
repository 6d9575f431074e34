export { MockModelServer } from './mock-model-server';
export type { ListenResult, InjectedFault } from './mock-model-server';
export { MAX_TOKENS_LIMIT } from './mock-options';
export type { MockModelOptions, ResolvedMockModelOptions } from './mock-options';
export type { MockStats } from './mock-stats';
export { MAX_BODY_BYTES } from './request-body';
export { completionText, tokenAt } from './completion-text';
