// Questions check-chart.sh asks of `helm template` output (multi-document YAML):
//   rendered.ts nats-conf RENDERED OUT    write the nats.conf of the NATS ConfigMap to OUT
//   rendered.ts workloads RENDERED        print "<kind> <name>" of the Deployments, StatefulSets, Jobs, Pods
//   rendered.ts same-secrets A B          exit 1 unless both renders hold identical Secrets
import { readFileSync, writeFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

interface K8sObject {
  kind?: string;
  metadata: { name: string };
  data?: Record<string, string>;
}

const objects = (file: string) =>
  parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => Boolean(o));

const [command, a, b] = process.argv.slice(2);
switch (command) {
  case 'nats-conf': {
    const cm = objects(a!).find((o) => o.kind === 'ConfigMap' && o.data?.['nats.conf']);
    if (!cm) throw new Error(`no ConfigMap with nats.conf in ${a}`);
    writeFileSync(b!, cm.data!['nats.conf']!);
    break;
  }
  case 'workloads':
    for (const o of objects(a!))
      if (['Deployment', 'StatefulSet', 'Job', 'DaemonSet', 'Pod'].includes(o.kind ?? '')) console.log(`${o.kind} ${o.metadata.name}`);
    break;
  case 'same-secrets': {
    // Tilt renders with `helm template` on every `tilt up` and chart edit: a Secret that changed
    // between two renders (a generated password) would lock the apps out of PostgreSQL's data.
    const secrets = (f: string) =>
      objects(f)
        .filter((o) => o.kind === 'Secret')
        .map((o) => JSON.stringify([o.metadata.name, o.data]));
    const [x, y] = [secrets(a!), secrets(b!)];
    const changed = x.filter((s, i) => s !== y[i]);
    if (changed.length > 0 || x.length !== y.length) {
      console.error(`Secrets differ between two renders: ${changed.map((c) => JSON.parse(c)[0]).join(', ')}`);
      process.exit(1);
    }
    console.error(`${x.length} Secret(s) identical across renders`);
    break;
  }
  default:
    console.error('usage: rendered.ts nats-conf RENDERED OUT | workloads RENDERED | same-secrets A B');
    process.exit(2);
}
