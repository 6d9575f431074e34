import { StoreConflictError, StoreNotFoundError } from './store';

// The errors both backends raise, worded once: callers (and their users) see the same message
// whichever database is behind the store.

export const userNameTaken = (name: string) =>
  new StoreConflictError(`a user named "${name}" already exists; choose another name or use the existing user`);

export const sessionNameTaken = (userId: string, name: string) =>
  new StoreConflictError(
    `user ${userId} already has a session named "${name}"; choose another name, or restart the existing session`,
  );

export const tunnelNameTaken = (userId: string, name: string) =>
  new StoreConflictError(
    `user ${userId} already has a tunnel named "${name}"; choose another name, or delete the existing tunnel first`,
  );

export const missingUser = (userId: string) => new StoreNotFoundError(`no user ${userId}; create the user first`);

// Says nothing about whether the session exists for someone else: ids must not be probeable.
export const missingSession = (userId: string, sessionId: string) =>
  new StoreNotFoundError(`user ${userId} has no session ${sessionId}; list your sessions to find its id`);

export const missingTunnel = (tunnelId: string) =>
  new StoreNotFoundError(`no tunnel ${tunnelId}; list tunnels to find its id`);
