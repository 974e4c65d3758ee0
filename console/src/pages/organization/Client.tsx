// One service client: its id, renaming, disabling and deleting it, and its certificates:
// register the client's own public key (recommended), or have Purser make a pair and show
// the private key once; revoke a certificate.
import {
  Alert,
  Button,
  ClipboardCopy,
  ClipboardCopyButton,
  CodeBlock,
  CodeBlockAction,
  CodeBlockCode,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  FlexItem,
  Form,
  Grid,
  GridItem,
  Label,
  Modal,
  ModalBody,
  ModalFooter,
  ModalHeader,
  Stack,
  StackItem,
  Title,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Submit, TextField } from "../../components/form";
import { Empty, fieldError, Loaded, ProblemAlert } from "../../components/states";
import { dateTime } from "../../lib/format";
import type { TabProps } from "./access";
import { ClientForm, ClientStatus } from "./Clients";

type ClientDetail = Schemas["ClientDetailDto"];
type Certificate = Schemas["CertificateDto"];
type Body = Schemas["AddCertificateRequest"];

const CERTIFICATE_COLOR = { active: "green", expired: "grey", revoked: "red" } as const;

/** The end of a day chosen in a date field, or none. */
const endOfDay = (day: string) => (day ? new Date(`${day}T23:59:59`).toISOString() : null);

/** Saves a generated private key as a .pem file; it is never sent anywhere. */
function download(name: string, pem: string) {
  const url = URL.createObjectURL(new Blob([pem], { type: "application/x-pem-file" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = `${name.replace(/[^\p{L}\p{N}._-]+/gu, "-") || "private-key"}.pem`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function useAddCertificate(org: string, client: string) {
  const queries = useQueryClient();
  return useMutation({
    mutationFn: (body: Body) =>
      call(
        api.POST("/api/v1/organizations/{org}/clients/{client}/certificates", {
          params: { path: { org, client } },
          body,
        }),
      ),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["org", org, "client", client] }),
  });
}

/** Registers the client's own public key: a PEM, or a JWK as JSON. */
function RegisterKey({ org, client }: { org: string; client: string }) {
  const { t } = useTranslation();
  const add = useAddCertificate(org, client);
  const [name, setName] = useState("");
  const [key, setKey] = useState("");
  const [expires, setExpires] = useState("");
  const [badJson, setBadJson] = useState(false);
  const submit = () => {
    const text = key.trim();
    let publicKey: unknown = text;
    if (text.startsWith("{")) {
      try {
        publicKey = JSON.parse(text);
      } catch {
        setBadJson(true);
        return;
      }
    }
    setBadJson(false);
    add.mutate(
      // A JWK object or a PEM string: the API takes either.
      { name, publicKey: publicKey as Body["publicKey"], expiresAt: endOfDay(expires) },
      {
        onSuccess: () => {
          setName("");
          setKey("");
          setExpires("");
        },
      },
    );
  };
  return (
    <Form
      aria-labelledby="register-key-title"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <Title headingLevel="h3" id="register-key-title">
        {t("organization.certificates.register")}
      </Title>
      <p>{t("organization.certificates.registerExplain")}</p>
      <ProblemAlert error={add.error} />
      {add.data ? (
        <Alert
          variant="success"
          isInline
          title={t("organization.certificates.registered", { name: add.data.certificate.name })}
        />
      ) : null}
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(add.error, "name")}
        hint={t("organization.certificates.nameHint")}
        isRequired
      />
      <TextField
        label={t("organization.certificates.publicKey")}
        value={key}
        onChange={setKey}
        error={
          badJson ? t("organization.certificates.badJson") : fieldError(add.error, "publicKey")
        }
        hint={t("organization.certificates.publicKeyHint")}
        isRequired
        multiline
      />
      <TextField
        label={t("organization.certificates.expiresOn")}
        type="date"
        value={expires}
        onChange={setExpires}
        error={fieldError(add.error, "expiresAt")}
        hint={t("organization.certificates.expiresHint")}
      />
      <Submit busy={add.isPending}>{t("organization.certificates.registerSubmit")}</Submit>
    </Form>
  );
}

/** The private key Purser made, shown this once: copy it or download it. */
function PrivateKey({ name, pem, onClose }: { name: string; pem: string; onClose: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  return (
    <Modal variant="medium" isOpen onClose={onClose} aria-labelledby="private-key-title">
      <ModalHeader
        title={t("organization.certificates.privateKeyTitle", { name })}
        labelId="private-key-title"
      />
      <ModalBody>
        <Stack hasGutter>
          <Alert variant="warning" isInline title={t("organization.certificates.notStored")}>
            {t("organization.certificates.notStoredDetail")}
          </Alert>
          <CodeBlock
            actions={
              <CodeBlockAction>
                <ClipboardCopyButton
                  id="private-key-copy"
                  textId="private-key-code"
                  aria-label={t("common.copy")}
                  onClick={() => {
                    void navigator.clipboard?.writeText(pem);
                    setCopied(true);
                  }}
                  exitDelay={copied ? 1500 : 600}
                  variant="plain"
                  onTooltipHidden={() => setCopied(false)}
                >
                  {copied ? t("common.copied") : t("common.copy")}
                </ClipboardCopyButton>
              </CodeBlockAction>
            }
          >
            <CodeBlockCode
              id="private-key-code"
              aria-label={t("organization.certificates.privateKey")}
            >
              {pem}
            </CodeBlockCode>
          </CodeBlock>
        </Stack>
      </ModalBody>
      <ModalFooter>
        <Button variant="secondary" onClick={() => download(name, pem)}>
          {t("organization.certificates.download")}
        </Button>
        <Button onClick={onClose}>{t("organization.certificates.saved")}</Button>
      </ModalFooter>
    </Modal>
  );
}

/** Has Purser make a key pair; the private key is shown once, then forgotten. */
function GenerateKey({ org, client }: { org: string; client: string }) {
  const { t } = useTranslation();
  const add = useAddCertificate(org, client);
  const [name, setName] = useState("");
  const created = add.data;
  return (
    <>
      <Form
        aria-labelledby="generate-key-title"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate({ name }, { onSuccess: () => setName("") });
        }}
      >
        <Title headingLevel="h3" id="generate-key-title">
          {t("organization.certificates.generate")}
        </Title>
        <p>{t("organization.certificates.generateExplain")}</p>
        <ProblemAlert error={add.error} />
        <TextField
          label={t("fields.name")}
          value={name}
          onChange={setName}
          error={fieldError(add.error, "name") ?? fieldError(add.error, "publicKey")}
          hint={t("organization.certificates.nameHint")}
          isRequired
        />
        <Submit busy={add.isPending}>{t("organization.certificates.generateSubmit")}</Submit>
      </Form>
      {created?.privateKey ? (
        <PrivateKey
          name={created.certificate.name}
          pem={created.privateKey}
          // Closing forgets the key: nothing keeps it after this.
          onClose={() => add.reset()}
        />
      ) : null}
    </>
  );
}

function Certificates({
  org,
  client,
  mayManage,
}: {
  org: string;
  client: ClientDetail;
  mayManage: boolean;
}) {
  const { t } = useTranslation();
  const queries = useQueryClient();
  const revoke = useMutation({
    mutationFn: (certificate: string) =>
      call(
        api.DELETE("/api/v1/organizations/{org}/clients/{client}/certificates/{certificate}", {
          params: { path: { org, client: client.id, certificate } },
        }),
      ),
    onSettled: () => queries.invalidateQueries({ queryKey: ["org", org, "client", client.id] }),
  });
  return (
    <Stack hasGutter>
      <Title headingLevel="h3">{t("organization.certificates.title")}</Title>
      <ProblemAlert error={revoke.error} />
      {client.certificates.length === 0 ? (
        <Empty title={t("organization.certificates.none")}>
          {t("organization.certificates.noneDetail")}
        </Empty>
      ) : (
        <Table aria-label={t("organization.certificates.title")} variant="compact">
          <Thead>
            <Tr>
              <Th modifier="wrap">{t("fields.name")}</Th>
              <Th modifier="wrap">{t("organization.certificates.kid")}</Th>
              <Th modifier="wrap">{t("fields.status")}</Th>
              <Th modifier="wrap">{t("fields.created")}</Th>
              <Th modifier="wrap">{t("organization.certificates.expires")}</Th>
              <Th modifier="wrap">{t("organization.certificates.lastUsed")}</Th>
              <Th screenReaderText={t("common.actions")} />
            </Tr>
          </Thead>
          <Tbody>
            {client.certificates.map((c: Certificate) => (
              <Tr key={c.id}>
                <Td dataLabel={t("fields.name")}>{c.name}</Td>
                <Td dataLabel={t("organization.certificates.kid")}>
                  <ClipboardCopy
                    variant="inline-compact"
                    isCode
                    hoverTip={t("common.copy")}
                    clickTip={t("common.copied")}
                    copyAriaLabel={t("organization.certificates.copyKid", { name: c.name })}
                  >
                    {c.kid}
                  </ClipboardCopy>
                </Td>
                <Td dataLabel={t("fields.status")}>
                  <Label color={CERTIFICATE_COLOR[c.status]} isCompact>
                    {t(`organization.certificates.status.${c.status}`)}
                  </Label>
                </Td>
                <Td dataLabel={t("fields.created")}>{dateTime(c.createdAt)}</Td>
                <Td dataLabel={t("organization.certificates.expires")}>
                  {c.expiresAt ? dateTime(c.expiresAt) : t("organization.certificates.noExpiry")}
                </Td>
                <Td dataLabel={t("organization.certificates.lastUsed")}>
                  {c.lastUsedAt ? dateTime(c.lastUsedAt) : t("organization.certificates.neverUsed")}
                </Td>
                <Td dataLabel={t("common.actions")} isActionCell>
                  {mayManage && c.status !== "revoked" ? (
                    <ConfirmButton
                      label={t("organization.certificates.revoke")}
                      title={t("organization.certificates.revokeTitle", { name: c.name })}
                      body={t("organization.certificates.revokeBody")}
                      confirm={t("organization.certificates.revoke")}
                      onConfirm={() => revoke.mutateAsync(c.id).catch(() => undefined)}
                    />
                  ) : null}
                </Td>
              </Tr>
            ))}
          </Tbody>
        </Table>
      )}
      {mayManage ? (
        <Grid hasGutter>
          <GridItem md={7}>
            <RegisterKey org={org} client={client.id} />
          </GridItem>
          <GridItem md={5}>
            <GenerateKey org={org} client={client.id} />
          </GridItem>
        </Grid>
      ) : null}
    </Stack>
  );
}

function ClientPage({ client, org, can }: TabProps & { client: ClientDetail }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [editing, setEditing] = useState(false);
  const clientsPath = `/organizations/${org.id}/clients`;
  const path = { params: { path: { org: org.id, client: client.id } } };
  const refresh = () =>
    queries.invalidateQueries({ queryKey: ["org", org.id, "client", client.id] });
  const refreshList = () => queries.invalidateQueries({ queryKey: ["org", org.id, "clients"] });
  const toggle = useMutation({
    mutationFn: (disabled: boolean) =>
      call(
        api.PATCH("/api/v1/organizations/{org}/clients/{client}", { ...path, body: { disabled } }),
      ),
    onSettled: () => Promise.all([refresh(), refreshList()]),
  });
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/api/v1/organizations/{org}/clients/{client}", path)),
    onSuccess: async () => {
      navigate(clientsPath);
      queries.removeQueries({ queryKey: ["org", org.id, "client", client.id] });
      await refreshList();
    },
  });
  return (
    <Stack hasGutter>
      <StackItem>
        <Link to={clientsPath}>{t("organization.clients.back")}</Link>
      </StackItem>
      <StackItem>
        <Flex justifyContent={{ default: "justifyContentSpaceBetween" }}>
          <FlexItem>
            <Title headingLevel="h2">
              {client.name} <ClientStatus client={client} />
            </Title>
          </FlexItem>
          {can.manageClients ? (
            <FlexItem>
              <Button variant="secondary" onClick={() => setEditing(true)}>
                {t("common.edit")}
              </Button>{" "}
              {client.disabled ? (
                <Button
                  variant="secondary"
                  onClick={() => toggle.mutate(false)}
                  isLoading={toggle.isPending}
                  isDisabled={toggle.isPending}
                >
                  {t("organization.clients.enable")}
                </Button>
              ) : (
                <ConfirmButton
                  variant="secondary"
                  label={t("organization.clients.disable")}
                  title={t("organization.clients.disableTitle", { name: client.name })}
                  body={t("organization.clients.disableBody")}
                  confirm={t("organization.clients.disable")}
                  onConfirm={() => toggle.mutateAsync(true).catch(() => undefined)}
                />
              )}
              <ConfirmButton
                label={t("common.delete")}
                title={t("organization.clients.deleteTitle", { name: client.name })}
                body={t("organization.clients.deleteBody")}
                confirm={t("common.delete")}
                onConfirm={() => remove.mutateAsync().catch(() => undefined)}
              />
            </FlexItem>
          ) : null}
        </Flex>
      </StackItem>
      <StackItem>
        <ProblemAlert error={toggle.error ?? remove.error} />
        <DescriptionList isHorizontal>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("organization.clients.id")}</DescriptionListTerm>
            <DescriptionListDescription>
              <ClipboardCopy
                variant="inline-compact"
                isCode
                hoverTip={t("common.copy")}
                clickTip={t("common.copied")}
                copyAriaLabel={t("organization.clients.copyId")}
              >
                {client.id}
              </ClipboardCopy>{" "}
              <small>{t("organization.clients.idHint")}</small>
            </DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("fields.description")}</DescriptionListTerm>
            <DescriptionListDescription>{client.description ?? "—"}</DescriptionListDescription>
          </DescriptionListGroup>
          <DescriptionListGroup>
            <DescriptionListTerm>{t("fields.created")}</DescriptionListTerm>
            <DescriptionListDescription>{dateTime(client.createdAt)}</DescriptionListDescription>
          </DescriptionListGroup>
        </DescriptionList>
      </StackItem>
      <StackItem>
        <Certificates org={org.id} client={client} mayManage={can.manageClients} />
      </StackItem>
      <Modal
        variant="medium"
        isOpen={editing}
        onClose={() => setEditing(false)}
        aria-labelledby="edit-client-title"
      >
        <ModalHeader
          title={t("organization.clients.editTitle", { name: client.name })}
          labelId="edit-client-title"
        />
        <ModalBody>
          <ClientForm org={org.id} client={client} onDone={() => setEditing(false)} />
        </ModalBody>
      </Modal>
    </Stack>
  );
}

export function Client(props: TabProps) {
  const { client: id = "" } = useParams();
  const org = props.org.id;
  const client = useQuery({
    queryKey: ["org", org, "client", id],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/clients/{client}", {
          params: { path: { org, client: id } },
        }),
      ),
  });
  return <Loaded query={client}>{(c) => <ClientPage {...props} client={c} />}</Loaded>;
}
