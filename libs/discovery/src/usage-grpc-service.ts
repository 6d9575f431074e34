import { type Metadata, type ServerUnaryCall, type sendUnaryData, status } from '@grpc/grpc-js';
import { type AuthDeps, CallerAuthError, type Caller, authenticateCaller } from '@st/auth';
import type { Logger } from '@st/logging';
import type { GetUsageRequest, GetUsageResponse, UsageServiceServer } from '@st/proto';
import type { Store } from '@st/store';
import { UsageRefusal, usageQueryFor, usageRowOf } from './usage-query';

/** What GetUsage reads. */
export type UsageStore = Pick<Store, 'queryUsage'>;

/** sessiontunnel.v1.UsageService over grpc-js, beside ProviderDiscoveryService. */
export function createUsageGrpcService(store: UsageStore, auth: AuthDeps, logger: Logger): UsageServiceServer {
  return {
    getUsage(call: ServerUnaryCall<GetUsageRequest, GetUsageResponse>, callback: sendUnaryData<GetUsageResponse>) {
      callerOf(call.metadata, auth)
        .then((caller) => store.queryUsage(usageQueryFor(caller, { since: call.request.since, groupBy: call.request.groupBy, allUsers: call.request.allUsers })))
        .then(
          (rows) => callback(null, { usage: rows.map(usageRowOf) }),
          (err: unknown) => callback(usageGrpcError(err, logger)),
        );
    },
  };
}

async function callerOf(metadata: Metadata, auth: AuthDeps): Promise<Caller> {
  const value = metadata.get('authorization')[0];
  return authenticateCaller(typeof value === 'string' ? value : undefined, auth);
}

function usageGrpcError(err: unknown, logger: Logger): { code: status; details: string } {
  if (err instanceof CallerAuthError) return { code: status.UNAUTHENTICATED, details: err.message };
  if (err instanceof UsageRefusal) return { code: err.reason === 'permission' ? status.PERMISSION_DENIED : status.INVALID_ARGUMENT, details: err.message };
  logger.error({ err }, 'GetUsage failed');
  return { code: status.INTERNAL, details: 'reading usage failed in the control plane (its store); see its log' };
}
