import {
  Button,
  Masthead,
  MastheadBrand,
  MastheadContent,
  MastheadLogo,
  MastheadMain,
  MastheadToggle,
  Nav,
  NavGroup,
  NavItem,
  NavList,
  Page,
  PageSidebar,
  PageSidebarBody,
  PageToggleButton,
  SkipToContent,
  Toolbar,
  ToolbarContent,
  ToolbarGroup,
  ToolbarItem,
} from "@patternfly/react-core";
import BarsIcon from "@patternfly/react-icons/dist/esm/icons/bars-icon";
import type { ReactNode } from "react";
import { useTranslation } from "react-i18next";
import { NavLink, useLocation, useNavigate } from "react-router";
import { isAdmin, useSignOut, type User } from "../lib/session";
import { LanguageSelect, ThemeToggle } from "./Preferences";

const MAIN = "purser-main";

function Item({ to, label }: { to: string; label: string }) {
  const { pathname } = useLocation();
  const active = to === "/" ? pathname === "/" : pathname.startsWith(to);
  return (
    <NavItem isActive={active}>
      <NavLink to={to} end={to === "/"}>
        {label}
      </NavLink>
    </NavItem>
  );
}

export function Layout({ user, children }: { user: User; children: ReactNode }) {
  const { t } = useTranslation();
  const signOut = useSignOut();
  const navigate = useNavigate();

  const masthead = (
    <Masthead>
      <MastheadMain>
        <MastheadToggle>
          <PageToggleButton variant="plain" aria-label={t("nav.toggle")}>
            <BarsIcon />
          </PageToggleButton>
        </MastheadToggle>
        <MastheadBrand>
          <MastheadLogo component={(props) => <NavLink {...props} to="/" aria-label="Purser" />}>
            <strong>Purser</strong>
          </MastheadLogo>
        </MastheadBrand>
      </MastheadMain>
      <MastheadContent>
        <Toolbar isFullHeight isStatic>
          <ToolbarContent>
            <ToolbarGroup align={{ default: "alignEnd" }} gap={{ default: "gapMd" }}>
              <ToolbarItem>
                <LanguageSelect />
              </ToolbarItem>
              <ToolbarItem>
                <ThemeToggle />
              </ToolbarItem>
              <ToolbarItem>
                <NavLink to="/account" aria-label={t("nav.account")}>
                  {user.name}
                </NavLink>
              </ToolbarItem>
              <ToolbarItem>
                <Button
                  variant="secondary"
                  onClick={() => void signOut().then(() => navigate("/sign-in"))}
                >
                  {t("nav.signOut")}
                </Button>
              </ToolbarItem>
            </ToolbarGroup>
          </ToolbarContent>
        </Toolbar>
      </MastheadContent>
    </Masthead>
  );

  const sidebar = (
    <PageSidebar>
      <PageSidebarBody>
        <Nav aria-label={t("nav.label")}>
          <NavList>
            <Item to="/" label={t("nav.home")} />
            <Item to="/models" label={t("nav.models")} />
            <Item to="/subscriptions" label={t("nav.subscriptions")} />
            <Item to="/api-keys" label={t("nav.apiKeys")} />
            <Item to="/usage" label={t("nav.usage")} />
            <Item to="/playground" label={t("nav.playground")} />
            <Item to="/organizations" label={t("nav.organizations")} />
            <Item to="/account" label={t("nav.account")} />
          </NavList>
          {isAdmin(user) ? (
            <NavGroup title={t("nav.admin")}>
              <Item to="/admin/models" label={t("nav.adminModels")} />
              <Item to="/admin/subscriptions" label={t("nav.adminSubscriptions")} />
              <Item to="/admin/users" label={t("nav.adminUsers")} />
              <Item to="/admin/organizations" label={t("nav.adminOrganizations")} />
              <Item to="/admin/audit" label={t("nav.adminAudit")} />
            </NavGroup>
          ) : null}
        </Nav>
      </PageSidebarBody>
    </PageSidebar>
  );

  return (
    <Page
      masthead={masthead}
      sidebar={sidebar}
      isManagedSidebar
      mainContainerId={MAIN}
      skipToContent={<SkipToContent href={`#${MAIN}`}>{t("nav.skip")}</SkipToContent>}
    >
      {children}
    </Page>
  );
}
