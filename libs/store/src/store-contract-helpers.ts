// Shared by the parts of the store contract; imported only by specs.

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** Waits long enough that the next timestamp differs, so orderings are decided by createdAt. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
