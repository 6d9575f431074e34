import { type ServerWritableStream, type sendUnaryData, type ServerUnaryCall, status } from '@grpc/grpc-js';
import { type AuthDeps, GrpcStatusError, requireUser } from '@st/auth';
import type { Logger } from '@st/logging';
import type {
  ListProvidersRequest,
  ListProvidersResponse,
  ProviderDiscoveryServiceServer,
  WatchProvidersRequest,
  WatchProvidersResponse,
} from '@st/proto';
import type { ProviderDirectory } from './provider-directory';
import { WatchLimitError } from './watch-quota';

/** Events written while the client is not reading before the watch is ended. */
const MAX_UNWRITTEN_EVENTS = 1_000;

/** sessiontunnel.v1.ProviderDiscoveryService over grpc-js. */
export function createDiscoveryGrpcService(directory: ProviderDirectory, auth: AuthDeps, logger: Logger): ProviderDiscoveryServiceServer {
  return {
    listProviders(call: ServerUnaryCall<ListProvidersRequest, ListProvidersResponse>, callback: sendUnaryData<ListProvidersResponse>) {
      requireUser(call.metadata, auth)
        .then((user) => directory.list(user.id))
        .then(
          (providers) => callback(null, { providers }),
          (err: unknown) => callback(grpcError(err, logger)),
        );
    },
    watchProviders(call: ServerWritableStream<WatchProvidersRequest, WatchProvidersResponse>) {
      // A watch over the user's limit throws from directory.watch: .catch answers it too.
      requireUser(call.metadata, auth)
        .then((user) => {
          if (call.cancelled) return;
          let behind = 0;
          const watch = directory.watch(user.id, (event) => {
            // grpc-js buffers what the client does not read; bound it and let the client re-sync.
            if (behind > MAX_UNWRITTEN_EVENTS) {
              watch.close();
              call.emit('error', { code: status.RESOURCE_EXHAUSTED, details: 'the watch fell too far behind: watch again to re-sync' });
              return;
            }
            if (!call.write({ change: event.change, provider: event.provider })) {
              behind++;
              call.once('drain', () => (behind = 0));
            }
          });
          call.on('cancelled', () => watch.close());
          call.on('close', () => watch.close());
          call.on('error', () => watch.close());
        })
        .catch((err: unknown) => call.emit('error', grpcError(err, logger)));
    },
  };
}

/** A status for grpc-js from whatever failed. */
export function grpcError(err: unknown, logger: Logger): { code: status; details: string } {
  if (err instanceof GrpcStatusError) return { code: err.code, details: err.message };
  if (err instanceof WatchLimitError) return { code: status.RESOURCE_EXHAUSTED, details: err.message };
  logger.error({ err }, 'discovery call failed');
  return { code: status.INTERNAL, details: 'internal error in the control plane; see its log' };
}
