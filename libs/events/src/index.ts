export { ChangeFeed } from './change-feed';
export type { ControlEvent, ControlEventListener } from './change-feed';
