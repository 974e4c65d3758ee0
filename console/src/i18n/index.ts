// Every visible string comes from the catalogs in ../locales. English is bundled; the
// others load when chosen. The browser's languages pick the default; the switcher's choice
// is remembered on this device.
import i18n from "i18next";
import { initReactI18next } from "react-i18next";
import en from "../locales/en.json";

export const LANGUAGES = {
  en: "English",
  fr: "Français",
  de: "Deutsch",
  es: "Español",
  it: "Italiano",
  pt: "Português",
  ja: "日本語",
  ko: "한국어",
  zh: "中文",
} as const;

export type Language = keyof typeof LANGUAGES;

const STORED = "purser.language";
// English is bundled above; the others are chunks of their own, loaded when chosen.
const catalogs = import.meta.glob<{ default: Record<string, unknown> }>([
  "../locales/*.json",
  "!../locales/en.json",
]);

function isLanguage(value: string | null | undefined): value is Language {
  return !!value && value in LANGUAGES;
}

/** The remembered choice, else the first of the browser's languages that we have. */
export function preferredLanguage(
  stored = localStorage.getItem(STORED),
  browser: readonly string[] = navigator.languages,
): Language {
  if (isLanguage(stored)) return stored;
  for (const tag of browser) {
    const base = tag.toLowerCase().split("-")[0];
    if (isLanguage(base)) return base;
  }
  return "en";
}

async function load(language: Language) {
  if (i18n.hasResourceBundle(language, "translation")) return;
  const catalog = await catalogs[`../locales/${language}.json`]?.();
  if (catalog) i18n.addResourceBundle(language, "translation", catalog.default);
}

export async function setLanguage(language: Language, remember = true) {
  await load(language);
  await i18n.changeLanguage(language);
  document.documentElement.lang = language;
  if (remember) localStorage.setItem(STORED, language);
}

export async function startI18n() {
  await i18n.use(initReactI18next).init({
    resources: { en: { translation: en } },
    lng: "en",
    fallbackLng: "en",
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  await setLanguage(preferredLanguage(), false);
}

export default i18n;
