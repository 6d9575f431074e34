export { loadConfig, readConfigFile, describeSettings, ConfigError } from './load-config';
export type { SettingSource, ConfigInputs } from './load-config';
export { port, millis, byteSize, httpUrl } from './schema-helpers';
