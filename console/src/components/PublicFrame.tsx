import {
  Bullseye,
  Card,
  CardBody,
  CardFooter,
  CardTitle,
  Flex,
  Title,
} from "@patternfly/react-core";
import type { ReactNode } from "react";
import { LanguageSelect, ThemeToggle } from "./Preferences";

/** The frame of the pages a visitor sees before signing in. */
export function PublicFrame({
  title,
  children,
  footer,
}: {
  title: string;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <main
      className="pf-v6-u-min-height pf-v6-u-background-color-200"
      style={{ minHeight: "100vh" }}
    >
      <Bullseye className="pf-v6-u-p-lg">
        <Card style={{ width: "min(28rem, 100%)" }}>
          <CardTitle>
            <Flex justifyContent={{ default: "justifyContentSpaceBetween" }}>
              <Title headingLevel="h1" size="xl">
                Purser · {title}
              </Title>
              <Flex gap={{ default: "gapSm" }}>
                <LanguageSelect />
                <ThemeToggle />
              </Flex>
            </Flex>
          </CardTitle>
          <CardBody>{children}</CardBody>
          {footer ? <CardFooter>{footer}</CardFooter> : null}
        </Card>
      </Bullseye>
    </main>
  );
}
