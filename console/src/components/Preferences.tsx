import { Button, FormSelect, FormSelectOption } from "@patternfly/react-core";
import MoonIcon from "@patternfly/react-icons/dist/esm/icons/moon-icon";
import SunIcon from "@patternfly/react-icons/dist/esm/icons/sun-icon";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage, type Language } from "../i18n";
import { chooseTheme, currentTheme } from "../lib/theme";

export function LanguageSelect() {
  const { t, i18n } = useTranslation();
  return (
    <FormSelect
      value={i18n.language}
      onChange={(_, value) => void setLanguage(value as Language)}
      aria-label={t("preferences.language")}
    >
      {Object.entries(LANGUAGES).map(([code, name]) => (
        <FormSelectOption key={code} value={code} label={name} />
      ))}
    </FormSelect>
  );
}

export function ThemeToggle() {
  const { t } = useTranslation();
  const [theme, setTheme] = useState(currentTheme);
  const next = theme === "dark" ? "light" : "dark";
  return (
    <Button
      variant="plain"
      aria-label={next === "dark" ? t("preferences.darkTheme") : t("preferences.lightTheme")}
      onClick={() => {
        chooseTheme(next);
        setTheme(next);
      }}
      icon={theme === "dark" ? <SunIcon /> : <MoonIcon />}
    />
  );
}
