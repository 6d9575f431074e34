import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '@st/testing';
import { parseAllDocuments } from 'yaml';

export const KUSTOMIZE_ROOT = join(REPO_ROOT, 'deploy', 'kubernetes');

/** Debian's kubernetes-client (kubectl 1.20) in CI; KUBECTL picks another one. */
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** One rendered Kubernetes object, typed only as far as the assertions read it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: any };

/** Renders a kustomization directory (relative to deploy/kubernetes) the way CI and users do. */
export async function kustomize(dir: string): Promise<K8sObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await promisify(execFile)(KUBECTL, ['kustomize', join(KUSTOMIZE_ROOT, dir)], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(`${KUBECTL} not found: install Debian's kubernetes-client (apt-get install kubernetes-client; .ci/run does) or set KUBECTL`);
    }
    throw new Error(`${KUBECTL} kustomize ${dir} failed: ${e.stderr ?? e.message}`);
  }
  return parseAllDocuments(stdout)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed broken YAML: ${doc.errors[0].message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/**
 * Validates an object against the JSON schema that kubernetes-models bundles for its apiVersion
 * and kind (each model class's validate() throws naming the path of the first mismatch).
 */
export async function validateObject(obj: K8sObject): Promise<void> {
  // "v1" is the core group (kubernetes-models/v1/Service); "apps/v1" -> kubernetes-models/apps/v1/Deployment.
  const path = `kubernetes-models/${obj.apiVersion}/${obj.kind}`;
  let model: Record<string, new (data: unknown) => { validate(): void }>;
  try {
    model = await import(/* @vite-ignore */ path);
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata?.name}: kubernetes-models has no schema for ${obj.apiVersion} ${obj.kind} (${(err as Error).message})`);
  }
  const Model = model[obj.kind];
  if (!Model) throw new Error(`${path} exports no class ${obj.kind}`);
  try {
    new Model(obj).validate();
  } catch (err) {
    throw new Error(`${obj.kind} ${obj.metadata.name} does not match the ${obj.apiVersion} schema: ${(err as Error).message}`);
  }
}
