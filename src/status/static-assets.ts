import fs from 'node:fs';

export interface StaticAsset {
  readonly contentType: string;
  readonly body: Buffer;
}

/**
 * The files the /status page loads, served by the admin listener itself so that the page
 * works without a network (no CDN): uPlot's minified script and stylesheet, read once from
 * the installed package when the listener is made.
 */
export function loadStaticAssets(): ReadonlyMap<string, StaticAsset> {
  const read = (file: string): Buffer => fs.readFileSync(require.resolve(`uplot/dist/${file}`));
  return new Map<string, StaticAsset>([
    ['/static/uplot.min.js', { contentType: 'text/javascript; charset=utf-8', body: read('uPlot.iife.min.js') }],
    ['/static/uplot.min.css', { contentType: 'text/css; charset=utf-8', body: read('uPlot.min.css') }],
  ]);
}
