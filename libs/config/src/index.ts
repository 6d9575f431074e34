export { loadConfig, readConfigFile, describeSettings, ConfigError } from './load-config';
export type { SettingSource, ConfigInputs } from './load-config';
export { port, optionalPort, listenAddress, millis, byteSize, httpUrl, oneOf, onOff, logLevel, LOG_LEVELS } from './schema-helpers';
export { describeIssue } from './issue-message';
