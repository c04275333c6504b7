/**
 * Every string the pages show, Chinese first, English second: one catalogue, in parts kept by
 * the pages that use them (tablet, staff pages, the dashboard's 差评 loop). Look a string up
 * with `t(key)`.
 */
import { TABLET_STRINGS } from './strings-tablet.js';
import { STAFF_STRINGS } from './strings-staff.js';
import { DISSATISFIED_STRINGS } from './strings-dissatisfied.js';

export type Lang = 'zh-CN' | 'en';
export type Entry = readonly [zh: string, en: string];

export const CATALOGUE = { ...TABLET_STRINGS, ...STAFF_STRINGS, ...DISSATISFIED_STRINGS } as const satisfies Record<string, Entry>;
export type Key = keyof typeof CATALOGUE;

let current: Lang = 'zh-CN';

export function setLang(lang: Lang): void {
  current = lang;
  document.documentElement.lang = lang;
}

export function lang(): Lang {
  return current;
}

/** The string in the current language; `{name}` placeholders filled from `vars`. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const entry = CATALOGUE[key] as Entry;
  const text = entry[current === 'en' ? 1 : 0];
  return text.replace(/\{(\w+)\}/g, (_, name: string) => String(vars[name] ?? `{${name}}`));
}

/** Fills every `[data-i18n]` element under `root` with its string. */
export function translate(root: ParentNode = document): void {
  root.querySelectorAll<HTMLElement>('[data-i18n]').forEach((el) => {
    el.textContent = t(el.dataset['i18n'] as Key);
  });
}
