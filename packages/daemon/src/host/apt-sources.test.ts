import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  debianMirrorOf,
  hostDebianMirror,
  parseDeb822Sources,
  parseOneLineSources,
} from "./apt-sources.ts";

const FIXTURES = join(import.meta.dirname, "fixtures", "apt");
const fixture = (path: string) => readFileSync(join(FIXTURES, path), "utf8");

test("parseDeb822Sources() reads stanzas, continuation lines, comments and Enabled", () => {
  const sources = parseDeb822Sources(fixture("deb822/sources.list.d/debian.sources"));
  assert.deepEqual(sources, [
    {
      types: ["deb"],
      uris: ["http://old-mirror.example.org/debian"],
      suites: ["bookworm"],
      components: ["main"],
      enabled: false,
    },
    {
      types: ["deb-src"],
      uris: ["http://src.example.org/debian"],
      suites: ["bookworm"],
      components: ["main"],
      enabled: true,
    },
    {
      types: ["deb", "deb-src"],
      uris: ["http://mirror.example.org/debian", "http://mirror2.example.org/debian"],
      suites: ["bookworm", "bookworm-updates"],
      components: ["main"],
      enabled: true,
    },
    {
      types: ["deb"],
      uris: ["http://mirror.example.org/debian-security"],
      suites: ["bookworm-security"],
      components: ["main"],
      enabled: true,
    },
  ]);
});

test("parseOneLineSources() skips comments, reads [options] and trailing comments", () => {
  const sources = parseOneLineSources(fixture("one-line/sources.list"));
  assert.equal(sources.length, 5, JSON.stringify(sources));
  assert.deepEqual(sources[0], {
    types: ["deb-src"],
    uris: ["http://src.example.org/debian"],
    suites: ["bookworm"],
    components: ["main"],
    enabled: true,
  });
  assert.deepEqual(sources[3], {
    types: ["deb"],
    uris: ["http://mirror.example.org/debian"],
    suites: ["bookworm"],
    components: ["main", "contrib"],
    enabled: true,
  });
});

test("debianMirrorOf() takes the first enabled binary source of a Debian release", () => {
  const entry = (over: Partial<Parameters<typeof debianMirrorOf>[0][number]>) => ({
    types: ["deb"],
    uris: ["http://mirror.example.org/debian"],
    suites: ["trixie"],
    components: ["main"],
    enabled: true,
    ...over,
  });
  assert.equal(debianMirrorOf([]), undefined);
  assert.equal(
    debianMirrorOf([
      entry({ enabled: false, uris: ["http://a.example.org/debian"] }),
      entry({ types: ["deb-src"], uris: ["http://b.example.org/debian"] }),
      entry({ suites: ["trixie-security"], uris: ["http://c.example.org/debian-security"] }),
      entry({ suites: ["nodistro"], uris: ["http://d.example.org/apt"] }),
      entry({ uris: ["cdrom:[Debian]/", "http://e.example.org/debian"] }),
      entry({ uris: ["http://f.example.org/debian"] }),
    ]),
    "http://e.example.org/debian",
  );
  assert.equal(
    debianMirrorOf([entry({ suites: ["stable-updates"], uris: ["https://g.example.org/d"] })]),
    "https://g.example.org/d",
  );
});

test("hostDebianMirror() prefers deb822 files, skipping vendors, disabled and security entries", () => {
  assert.equal(hostDebianMirror(join(FIXTURES, "deb822")), "http://mirror.example.org/debian");
});

test("hostDebianMirror() reads sources.list when sources.list.d is missing", () => {
  assert.equal(hostDebianMirror(join(FIXTURES, "one-line")), "http://mirror.example.org/debian");
});

test("hostDebianMirror() falls back from .sources to sources.list before sources.list.d/*.list", () => {
  assert.equal(hostDebianMirror(join(FIXTURES, "both")), "http://mirror.example.org/debian");
});

test("hostDebianMirror() answers undefined when no entry is usable or apt has no config", () => {
  assert.equal(hostDebianMirror(join(FIXTURES, "none")), undefined);
  assert.equal(hostDebianMirror(join(FIXTURES, "no-such-dir")), undefined);
});
