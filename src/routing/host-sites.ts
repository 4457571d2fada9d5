import type { SiteConfig } from '../config/types';

/** Host header or SERVER_NAME → lookup key: no port, lower case, no trailing dot. */
function hostKey(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  let h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end > 0) h = h.slice(0, end + 1);
  } else if (h.indexOf(':') === h.lastIndexOf(':')) {
    // One colon: host:port. Several without brackets: a bare IPv6 address, kept whole.
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h === '' ? undefined : h;
}

/**
 * Host → site: the Host header without its port, case-insensitive, a trailing dot ignored; an
 * exact name, then the longest "*.example.com" wildcard, then a site answering "*", then the
 * first site — Apache's rule that the first <VirtualHost> is the default for unknown names.
 */
export class HostSites {
  private readonly exact = new Map<string, SiteConfig>();
  /** ".example.com" suffixes of "*.example.com" names, longest first. */
  private readonly wildcards: Array<{ readonly suffix: string; readonly site: SiteConfig }> = [];
  private readonly fallback: SiteConfig | undefined;

  constructor(sites: readonly SiteConfig[]) {
    let star: SiteConfig | undefined;
    for (const site of sites) {
      for (const name of site.hosts) {
        const key = name.trim().toLowerCase().replace(/\.$/, '');
        if (key === '*') star ??= site;
        else if (key.startsWith('*.')) this.wildcards.push({ suffix: key.slice(1), site });
        else if (!this.exact.has(key)) this.exact.set(key, site);
      }
    }
    this.fallback = star ?? sites[0];
    // Longest suffix first; equal lengths keep config order (Array.prototype.sort is stable).
    this.wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /** The site for a Host header (or SERVER_NAME); undefined only when no site is configured. */
  site(host: string | undefined): SiteConfig | undefined {
    const key = hostKey(host);
    if (key !== undefined) {
      const exact = this.exact.get(key);
      if (exact) return exact;
      for (const w of this.wildcards) if (key.endsWith(w.suffix)) return w.site;
    }
    return this.fallback;
  }
}
