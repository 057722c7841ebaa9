// What runs on the cluster, printed after an install: each NATS pod's `nats-server --version`, the
// size of the app and migrate images (and of the Node base they are built on, when the node has it)
// as the kubelet reports them, and how long each app took from its container's start to Ready.
import type { Kube } from '../kube.ts';

export interface ImagesStepOptions {
  kube: Kube;
  ns: string;
  release: string;
  /** repository:tag of the app image and of the migrate image, as installed. */
  appImage: string;
  migrateImage: string;
  /** The Dockerfile's NODE_IMAGE: what "above the base" is measured against. */
  baseImage: string;
}

const MB = 1e6;
const seconds = (from: string, to: string) => (Date.parse(to) - Date.parse(from)) / 1000;

/** The kubelet's size of `image` (containerd: the size of its unpacked layers), by any of its names. */
function sizeOf(nodes: any[], image: string): number | undefined {
  // The kubelet lists fully qualified names (docker.io/library/node:...); the chart's are short.
  const wanted = [image, `docker.io/${image}`, `docker.io/library/${image}`];
  for (const node of nodes)
    for (const img of node.status?.images ?? []) if ((img.names ?? []).some((n: string) => wanted.includes(n))) return img.sizeBytes;
  return undefined;
}

export async function imagesStep(o: ImagesStepOptions): Promise<string> {
  const lines: string[] = [];

  const natsPods = (await o.kube.pods(o.ns, `app.kubernetes.io/instance=${o.release},app.kubernetes.io/component=nats`)).map((p) => p.name);
  for (const pod of natsPods.sort()) {
    const version = (await o.kube.kubectl(['-n', o.ns, 'exec', pod, '-c', 'nats', '--', 'nats-server', '--version'])).trim();
    lines.push(`${pod}: ${version}`);
  }

  // The kubelet reports at most 50 images per node (nodeStatusMaxImages): a busy node may omit one.
  const nodes = (await o.kube.json<{ items: any[] }>(['get', 'nodes'])).items;
  const base = sizeOf(nodes, o.baseImage);
  const sizes = [o.appImage, o.migrateImage].map((image) => {
    const size = sizeOf(nodes, image);
    if (size === undefined) return `${image}: not in the node's image list`;
    const above = base === undefined ? '' : `, ${((size - base) / MB).toFixed(1)} MB above ${o.baseImage}`;
    return `${image}: ${(size / MB).toFixed(1)} MB${above}`;
  });
  lines.push(`image sizes (kubelet): ${sizes.join('; ')}${base === undefined ? ` (${o.baseImage} not on the node)` : ''}`);

  // Pod status times have one-second resolution, and Ready waits for the startup probe (period 5 s
  // by default) and the readiness probe: the figure is an upper bound of the app's own start.
  const pods = (await o.kube.json<{ items: any[] }>(['-n', o.ns, 'get', 'pods', '-l', `app.kubernetes.io/instance=${o.release}`])).items;
  const starts: string[] = [];
  for (const p of pods) {
    const component = p.metadata.labels?.['app.kubernetes.io/component'];
    const status = (p.status.containerStatuses ?? []).find((c: any) => c.name === component);
    if (component === 'migration') {
      const done = (p.status.containerStatuses ?? []).find((c: any) => c.name === 'migrate')?.state?.terminated;
      if (done) starts.push(`migrate ${seconds(done.startedAt, done.finishedAt).toFixed(0)} s (start to exit ${done.exitCode})`);
      continue;
    }
    if (!['ingest', 'consumer'].includes(component)) continue;
    const startedAt = status?.state?.running?.startedAt;
    const ready = (p.status.conditions ?? []).find((c: any) => c.type === 'Ready' && c.status === 'True');
    if (startedAt && ready)
      starts.push(`${p.metadata.name.replace(`${o.release}-`, '')} ${seconds(startedAt, ready.lastTransitionTime).toFixed(0)} s`);
  }
  lines.push(`container start -> Ready (1 s resolution, probes every 5 s): ${starts.sort().join(', ')}`);
  return lines.join('\n');
}
