import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createFileRegistry, fromBinary, toBinary, type DescFile, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { descriptorSetBase64 } from '@st/proto';

/** The request and response of grpc.reflection.v1(alpha), as proto-loader decodes them (keepCase). */
interface ReflectionRequest {
  host?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
  file_containing_extension?: { containing_type: string; extension_number: number };
  all_extension_numbers_of_type?: string;
  list_services?: string;
}

/**
 * Server reflection (v1 and v1alpha) answered from descriptors that buf compiled at codegen time
 * (ours, grpc.health.v1 and the reflection protos). @grpc/reflection is not used because it
 * rebuilds descriptors through protobufjs with relative type names, which grpcurl and `buf curl`
 * cannot link ("failed to find service named grpc.health.v1.Health").
 */
export class ReflectionServer {
  private readonly registry: FileRegistry;
  private readonly services: string[];

  constructor(serviceNames: () => string[]) {
    const set = fromBinary(FileDescriptorSetSchema, Buffer.from(descriptorSetBase64, 'base64'));
    this.registry = createFileRegistry(set);
    this.serviceNames = serviceNames;
    this.services = [];
  }

  private readonly serviceNames: () => string[];

  /** Adds grpc.reflection.v1 and v1alpha to a server. */
  addToServer(server: grpc.Server): void {
    const req = createRequire(__filename);
    const root = join(dirname(req.resolve('@grpc/reflection')), '../proto');
    const definition = protoLoader.loadSync(['grpc/reflection/v1/reflection.proto', 'grpc/reflection/v1alpha/reflection.proto'], {
      includeDirs: [root],
      keepCase: true,
      longs: String,
      enums: Number,
      defaults: false,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as {
      grpc: { reflection: Record<'v1' | 'v1alpha', { ServerReflection: { service: grpc.ServiceDefinition } }> };
    };
    const handler = { ServerReflectionInfo: (call: grpc.ServerDuplexStream<ReflectionRequest, unknown>) => this.serve(call) };
    server.addService(pkg.grpc.reflection.v1.ServerReflection.service, handler);
    server.addService(pkg.grpc.reflection.v1alpha.ServerReflection.service, handler);
  }

  private serve(call: grpc.ServerDuplexStream<ReflectionRequest, unknown>): void {
    call.on('data', (request: ReflectionRequest) => call.write(this.answer(request)));
    call.on('end', () => call.end());
    call.on('error', () => undefined);
  }

  /** One reflection answer; public for tests. */
  answer(request: ReflectionRequest): Record<string, unknown> {
    const base = { valid_host: request.host ?? '', original_request: request };
    if (request.list_services !== undefined) {
      const names = [...this.serviceNames(), 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
      return { ...base, list_services_response: { service: names.map((name) => ({ name })) } };
    }
    let file: DescFile | undefined;
    if (request.file_by_filename !== undefined) file = this.registry.getFile(request.file_by_filename);
    else if (request.file_containing_symbol !== undefined) file = this.fileOfSymbol(request.file_containing_symbol);
    else if (request.file_containing_extension || request.all_extension_numbers_of_type !== undefined) {
      return { ...base, error_response: { error_code: grpc.status.NOT_FOUND, error_message: 'no extensions are defined' } };
    } else {
      return { ...base, error_response: { error_code: grpc.status.UNIMPLEMENTED, error_message: 'unsupported reflection request' } };
    }
    if (!file) {
      return { ...base, error_response: { error_code: grpc.status.NOT_FOUND, error_message: 'symbol or file not found' } };
    }
    return { ...base, file_descriptor_response: { file_descriptor_proto: withDependencies(file).map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto))) } };
  }

  private fileOfSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct && 'file' in direct) return direct.file;
    // A method ("pkg.Service.Method") or a field: look its parent up.
    const parent = symbol.slice(0, symbol.lastIndexOf('.'));
    const owner = parent ? this.registry.get(parent) : undefined;
    return owner && 'file' in owner ? owner.file : undefined;
  }
}

/** The file first, then everything it imports, transitively, each once. */
function withDependencies(file: DescFile): DescFile[] {
  const out: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    seen.add(f.name);
    out.push(f);
    for (const d of f.dependencies) visit(d);
  };
  visit(file);
  return out;
}
