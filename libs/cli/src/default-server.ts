/** Where stctl dials when neither --server nor ST_SERVER says otherwise. */
export const DEFAULT_SERVER = '127.0.0.1:50051';
