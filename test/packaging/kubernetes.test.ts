/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- a Kubernetes manifest is untyped data, read field by field */
/**
 * packaging/kubernetes/fcgipm.yaml holds together with the code: its fcgipm configuration is
 * valid, its admin listener off loopback has a token file from a Secret, the probes ask the
 * admin listener it configures for /healthz (open without the token), Prometheus is pointed
 * at /metrics there, the grace period covers preStop and the drain, and the autoscaler's
 * metric is built from series a running fcgipm really exports.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/load';
import { cleanupClis, cli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { httpRequest } from '../helpers/http-client';

const FILE = path.resolve(__dirname, '../../packaging/kubernetes/fcgipm.yaml');
type Doc = Record<string, any>;
const docs = parseAllDocuments(fs.readFileSync(FILE, 'utf8')).map((d) => d.toJS() as Doc);
const kind = (k: string, name?: string): Doc => {
  const found = docs.find((d) => d.kind === k && (name === undefined || d.metadata?.name === name));
  if (!found) throw new Error(`no ${k} ${name ?? ''} in ${FILE}`);
  return found;
};

const configText = kind('ConfigMap', 'fcgipm').data['fcgipm.yaml'] as string;
// The image's example app is not on this machine: the test's own libfcgi build stands in.
const config = parseConfig(configText.replace('/opt/fcgipm/examples/hello.fcgi', fixture('hello')), 'fcgipm.yaml');
const pod = kind('Deployment').spec.template;
const container = pod.spec.containers[0];
const portOf = (name: string): number => container.ports.find((p: Doc) => p.name === name).containerPort;

afterAll(cleanupClis);

test('its fcgipm.yaml is a valid configuration whose listeners are the container ports', () => {
  expect(config.listen.http).toEqual({ kind: 'tcp', host: '0.0.0.0', port: portOf('http') });
  expect(config.listen.admin).toEqual({ kind: 'tcp', host: '0.0.0.0', port: portOf('admin') });
  expect(container.args).toEqual(['serve', '--config', `${container.volumeMounts.find((v: Doc) => v.name === 'config').mountPath}/fcgipm.yaml`]);
});

test('its admin listener, off loopback, has a token file from a Secret no one but the pod\'s group reads', () => {
  const file = config.listen.adminTokenFile!;
  expect(file).toBeDefined();
  const mount = container.volumeMounts.find((v: Doc) => file.startsWith(`${v.mountPath as string}/`));
  const volume = pod.spec.volumes.find((v: Doc) => v.name === mount.name);
  expect(volume.secret.secretName).toBeTruthy();
  // Not readable by others (fcgipm refuses that); the group is the pod's fsGroup.
  expect(volume.secret.defaultMode & 0o007).toBe(0);
  expect(pod.spec.securityContext.fsGroup).toBe(pod.spec.securityContext.runAsUser);
});

test('readiness and liveness ask /healthz on the admin port; Prometheus scrapes /metrics there', () => {
  for (const probe of [container.readinessProbe, container.livenessProbe]) {
    expect(probe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
  }
  expect(pod.metadata.annotations['prometheus.io/port']).toBe(String(portOf('admin')));
  expect(pod.metadata.annotations['prometheus.io/path']).toBe('/metrics');
});

test('the grace period covers the preStop pause and the whole drain', () => {
  const pause = Number(container.lifecycle.preStop.exec.command[1]);
  expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(pause + config.drainTimeoutMs / 1000);
});

test('the IPC dir is writable with a read-only root filesystem, as the non-root image user', () => {
  expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
  expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
  expect(container.volumeMounts.map((v: Doc) => v.mountPath)).toEqual(expect.arrayContaining([config.ipcDir, '/tmp']));
});

test('the autoscaler reads the adapter rule, built from series a running fcgipm exports', async () => {
  const hpaMetric = kind('HorizontalPodAutoscaler').spec.metrics[0].pods.metric.name as string;
  const rules = parseAllDocuments(kind('ConfigMap', 'fcgipm-prometheus-adapter-rules').data['rules.yaml'] as string)[0]!.toJS() as Doc;
  const rule = rules.rules[0];
  expect(rule.name.as).toBe(hpaMetric);
  const series = new Set([...`${rule.seriesQuery as string} ${rule.metricsQuery as string}`.matchAll(/fcgipm_\w+/g)].map((m) => m[0]));
  expect(series.size).toBeGreaterThan(0);

  const c = cli(['run', '--http', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--', fixture('hello')]);
  const ready = await c.waitForLine((l) => l.msg === 'fcgipm ready');
  await httpRequest(`http://${String(ready.http)}/`);
  const metrics = (await httpRequest(`http://${String(ready.admin)}/metrics`)).body.toString();
  for (const name of series) expect(metrics).toMatch(new RegExp(`^${name}\\{`, 'm'));
});
