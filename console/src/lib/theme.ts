// Light and dark themes: the system's setting unless the toggle chose one (remembered on
// this device). PatternFly switches on the `pf-v6-theme-dark` class of <html>.
export type Theme = "light" | "dark";

const STORED = "purser.theme";
const dark = window.matchMedia?.("(prefers-color-scheme: dark)");

export function currentTheme(): Theme {
  const stored = localStorage.getItem(STORED);
  if (stored === "light" || stored === "dark") return stored;
  return dark?.matches ? "dark" : "light";
}

export function applyTheme(theme: Theme = currentTheme()) {
  document.documentElement.classList.toggle("pf-v6-theme-dark", theme === "dark");
}

export function chooseTheme(theme: Theme) {
  localStorage.setItem(STORED, theme);
  applyTheme(theme);
}

/** Follows the system's setting while the person has not chosen. */
export function followSystemTheme() {
  applyTheme();
  dark?.addEventListener("change", () => {
    if (!localStorage.getItem(STORED)) applyTheme();
  });
}
