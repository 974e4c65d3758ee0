// Every language has every message, and every message the code asks for exists.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LANGUAGES } from ".";

const here = import.meta.dirname;
const locales = join(here, "../locales");

type Catalog = { [key: string]: string | Catalog };

function keys(catalog: Catalog, prefix = ""): string[] {
  return Object.entries(catalog).flatMap(([k, v]) =>
    typeof v === "string" ? [`${prefix}${k}`] : keys(v, `${prefix}${k}.`),
  );
}

const read = (language: string): Catalog =>
  JSON.parse(readFileSync(join(locales, `${language}.json`), "utf8"));

/** i18next's plural forms (`_one`, `_other`, ...) answer for their base key. */
const base = (key: string) => key.replace(/_(zero|one|two|few|many|other)$/, "");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const english = new Set(keys(read("en")));
const englishBases = new Set([...english].map(base));

describe("message catalogs", () => {
  it("exist for every language the switcher offers, and no others", () => {
    const files = readdirSync(locales).map((f) => f.replace(/\.json$/, ""));
    expect(files.sort()).toEqual(Object.keys(LANGUAGES).sort());
  });

  for (const language of Object.keys(LANGUAGES).filter((l) => l !== "en")) {
    it(`${language} has every English message and no other`, () => {
      const theirs = new Set(keys(read(language)).map(base));
      const missing = [...englishBases].filter((k) => !theirs.has(k));
      const extra = [...theirs].filter((k) => !englishBases.has(k));
      expect({ missing, extra }).toEqual({ missing: [], extra: [] });
    });

    it(`${language} keeps every placeholder of the English messages`, () => {
      const flat = (c: Catalog, p = ""): [string, string][] =>
        Object.entries(c).flatMap(([k, v]) =>
          typeof v === "string" ? [[`${p}${k}`, v] as [string, string]] : flat(v, `${p}${k}.`),
        );
      const theirs = new Map(flat(read(language)).map(([k, v]) => [base(k), v]));
      const placeholders = (text: string) =>
        [...text.matchAll(/{{\s*(\w+)\s*}}/g)].map((m) => m[1]).sort();
      const wrong = flat(read("en"))
        .filter(([k, v]) => {
          const other = theirs.get(base(k));
          return (
            other !== undefined && placeholders(v).some((p) => !placeholders(other).includes(p))
          );
        })
        .map(([k]) => k);
      expect(wrong).toEqual([]);
    });
  }

  it("hold every message the code asks for by name", () => {
    const asked = sources(join(here, "..")).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/\bt\(\s*"([\w.]+)"/g)].map((m) => m[1]!),
    );
    expect(asked.length).toBeGreaterThan(100);
    expect(asked.filter((key) => !englishBases.has(key))).toEqual([]);
  });
});
