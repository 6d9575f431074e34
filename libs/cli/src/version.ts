/** stctl's version, the version of apps/cli/package.json (a unit test keeps them equal). */
export const CLI_VERSION = '0.1.0';
