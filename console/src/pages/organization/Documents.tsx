// An organization's documents: storage use, drag-and-drop uploads with progress, the list
// (search, type, order), downloads, time-limited links, trusted timestamps, renaming and
// deleting; for admins, the files no document names any more.
import {
  Alert,
  Button,
  ClipboardCopy,
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Flex,
  FlexItem,
  Form,
  FormSelect,
  FormSelectOption,
  Label,
  Modal,
  ModalBody,
  ModalHeader,
  Progress,
  ProgressMeasureLocation,
  SearchInput,
  Stack,
  StackItem,
  Title,
  Toolbar,
  ToolbarContent,
  ToolbarItem,
} from "@patternfly/react-core";
import { Table, Tbody, Td, Th, Thead, Tr } from "@patternfly/react-table";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type DragEvent } from "react";
import { useTranslation } from "react-i18next";
import { api, ApiError, call, csrfToken, type Problem, type Schemas } from "../../api/client";
import { ConfirmButton } from "../../components/Confirm";
import { Pager } from "../../components/Pager";
import { Submit, TextField } from "../../components/form";
import { Empty, fieldError, Loaded, ProblemAlert, useProblemText } from "../../components/states";
import { bytes, dateTime } from "../../lib/format";
import type { TabProps } from "./access";
import { useStorage } from "./queries";

type Doc = Schemas["DocumentDto"];
type Uploaded = Schemas["UploadedDocumentDto"];

const SORTS = ["-createdAt", "createdAt", "name", "-name", "-size", "size"] as const;
type Sort = (typeof SORTS)[number];
const LINK_HOURS = [1, 24] as const;

/** Uploads one file with the browser's own progress events (fetch has none for uploads). */
function send(org: string, file: File, onProgress: (fraction: number) => void): Promise<Uploaded> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/v1/organizations/${org}/documents`);
    const token = csrfToken();
    if (token) request.setRequestHeader("x-csrf-token", token);
    request.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    request.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status === 201) {
        resolve(body as Uploaded);
        return;
      }
      const problem = (body ?? {}) as Partial<Problem>;
      reject(
        new ApiError({
          status: request.status,
          code: problem.code ?? `http_${request.status}`,
          detail: problem.detail ?? request.statusText,
          requestId: problem.requestId,
          errors: problem.errors,
        }),
      );
    };
    request.onerror = () => reject(new ApiError({ status: 0, code: "network", detail: "" }));
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}

interface Transfer {
  id: number;
  name: string;
  progress: number;
  done?: Uploaded;
  error?: unknown;
}

function Uploads({ org, onUploaded }: { org: string; onUploaded: () => void }) {
  const { t } = useTranslation();
  const text = useProblemText();
  const input = useRef<HTMLInputElement>(null);
  const [transfers, setTransfers] = useState<Transfer[]>([]);
  const [over, setOver] = useState(false);
  const next = useRef(0);
  const update = (id: number, change: Partial<Transfer>) =>
    setTransfers((all) => all.map((x) => (x.id === id ? { ...x, ...change } : x)));

  const start = (files: FileList | null) => {
    for (const file of Array.from(files ?? [])) {
      const id = next.current++;
      setTransfers((all) => [{ id, name: file.name, progress: 0 }, ...all].slice(0, 10));
      send(org, file, (progress) => update(id, { progress }))
        .then((done) => {
          update(id, { done, progress: 1 });
          onUploaded();
        })
        .catch((error: unknown) => update(id, { error }));
    }
  };
  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    start(e.dataTransfer.files);
  };

  return (
    <Stack hasGutter>
      <div
        className={`purser-dropzone${over ? " purser-dropzone--over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <p>{t("organization.documents.drop")}</p>
        <Button variant="secondary" onClick={() => input.current?.click()}>
          {t("organization.documents.choose")}
        </Button>
        <input
          ref={input}
          type="file"
          multiple
          hidden
          aria-label={t("organization.documents.choose")}
          data-testid="document-files"
          onChange={(e) => {
            start(e.target.files);
            e.target.value = "";
          }}
        />
      </div>
      {transfers.map((x) => (
        <StackItem key={x.id}>
          {x.error ? (
            <Alert
              variant="danger"
              isInline
              isPlain
              title={`${x.name}: ${
                // A refused file's reason (empty, wrong name) is in the server's own words.
                x.error instanceof ApiError && x.error.code === "validation_failed"
                  ? x.error.problem.detail
                  : text(x.error)
              }`}
            />
          ) : x.done ? (
            <Alert
              variant="success"
              isInline
              isPlain
              title={
                x.done.deduplicated
                  ? t("organization.documents.uploadedSame", { name: x.done.document.name })
                  : t("organization.documents.uploaded", { name: x.done.document.name })
              }
            />
          ) : (
            <Progress
              value={Math.round(x.progress * 100)}
              title={x.name}
              measureLocation={ProgressMeasureLocation.outside}
              aria-label={t("organization.documents.progress", { name: x.name })}
            />
          )}
        </StackItem>
      ))}
    </Stack>
  );
}

function Rename({ org, doc, onDone }: { org: string; doc: Doc; onDone: () => void }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [name, setName] = useState(doc.name);
  const rename = useMutation({
    mutationFn: () =>
      call(
        api.PATCH("/api/v1/organizations/{org}/documents/{doc}", {
          params: { path: { org, doc: doc.id } },
          body: { name },
        }),
      ),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["org", org, "documents"] });
      onDone();
    },
  });
  return (
    <Form
      onSubmit={(e) => {
        e.preventDefault();
        rename.mutate();
      }}
    >
      <ProblemAlert error={rename.error} />
      <TextField
        label={t("fields.name")}
        value={name}
        onChange={setName}
        error={fieldError(rename.error, "name")}
        isRequired
      />
      <Submit busy={rename.isPending}>{t("common.save")}</Submit>
    </Form>
  );
}

function ShareLink({ org, doc }: { org: string; doc: Doc }) {
  const { t } = useTranslation();
  const [hours, setHours] = useState<number>(LINK_HOURS[0]);
  const link = useMutation({
    mutationFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/documents/{doc}/download-url", {
          params: { path: { org, doc: doc.id }, query: { expiresIn: hours * 3600 } },
        }),
      ),
  });
  return (
    <Stack hasGutter>
      <p>{t("organization.documents.linkExplain")}</p>
      <Flex>
        <FlexItem>
          <FormSelect
            aria-label={t("organization.documents.linkValidity")}
            value={String(hours)}
            onChange={(_, v) => setHours(Number(v))}
          >
            {LINK_HOURS.map((h) => (
              <FormSelectOption
                key={h}
                value={String(h)}
                label={t("organization.documents.linkHours", { count: h })}
              />
            ))}
          </FormSelect>
        </FlexItem>
        <FlexItem>
          <Button onClick={() => link.mutate()} isLoading={link.isPending}>
            {t("organization.documents.makeLink")}
          </Button>
        </FlexItem>
      </Flex>
      <ProblemAlert error={link.error} />
      {link.data ? (
        <>
          <ClipboardCopy
            isReadOnly
            hoverTip={t("common.copy")}
            clickTip={t("common.copied")}
            textAriaLabel={t("organization.documents.link")}
          >
            {link.data.url}
          </ClipboardCopy>
          <small>
            {t("organization.documents.linkExpires", { at: dateTime(link.data.expiresAt) })}
          </small>
        </>
      ) : null}
    </Stack>
  );
}

function StorageUse({ org }: { org: string }) {
  const { t } = useTranslation();
  const storage = useStorage(org);
  return (
    <Loaded query={storage}>
      {(s) => (
        <Stack hasGutter>
          <DescriptionList isHorizontal isCompact>
            <DescriptionListGroup>
              <DescriptionListTerm>{t("organization.documents.count")}</DescriptionListTerm>
              <DescriptionListDescription>{s.documents}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t("organization.documents.stored")}</DescriptionListTerm>
              <DescriptionListDescription>{bytes(s.bytesStored)}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t("organization.documents.saved")}</DescriptionListTerm>
              <DescriptionListDescription>{bytes(s.bytesSaved)}</DescriptionListDescription>
            </DescriptionListGroup>
            <DescriptionListGroup>
              <DescriptionListTerm>{t("organization.documents.largest")}</DescriptionListTerm>
              <DescriptionListDescription>{bytes(s.maxUploadBytes)}</DescriptionListDescription>
            </DescriptionListGroup>
          </DescriptionList>
          {s.maxStorageBytes ? (
            <Progress
              value={Math.min(100, Math.round((s.bytesStored / s.maxStorageBytes) * 100))}
              title={t("organization.documents.quota", {
                used: bytes(s.bytesStored),
                max: bytes(s.maxStorageBytes),
              })}
              variant={s.bytesStored >= s.maxStorageBytes ? "danger" : undefined}
            />
          ) : null}
        </Stack>
      )}
    </Loaded>
  );
}

function Orphans({ org }: { org: string }) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const orphans = useQuery({
    queryKey: ["org", org, "documents", "orphans"],
    queryFn: () =>
      call(api.GET("/api/v1/organizations/{org}/orphaned-files", { params: { path: { org } } })),
  });
  const clean = useMutation({
    mutationFn: () =>
      call(api.DELETE("/api/v1/organizations/{org}/orphaned-files", { params: { path: { org } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["org", org, "documents"] }),
  });
  const files = orphans.data ?? [];
  if (files.length === 0) return null;
  const size = files.reduce((sum, f) => sum + f.size, 0);
  return (
    <Alert
      variant="info"
      isInline
      title={t("organization.documents.orphans", { count: files.length, size: bytes(size) })}
    >
      <p>{t("organization.documents.orphansExplain")}</p>
      <ProblemAlert error={clean.error} />
      <ConfirmButton
        label={t("organization.documents.cleanNow")}
        title={t("organization.documents.cleanTitle")}
        body={t("organization.documents.cleanBody")}
        confirm={t("organization.documents.cleanNow")}
        onConfirm={() => clean.mutateAsync().catch(() => undefined)}
      />
    </Alert>
  );
}

export function Documents({ org, user, can }: TabProps) {
  const { t } = useTranslation();
  const client = useQueryClient();
  const [page, setPage] = useState({ page: 1, limit: 20 });
  const [search, setSearch] = useState("");
  const [mimeType, setMimeType] = useState("");
  const [sort, setSort] = useState<Sort>("-createdAt");
  const [renaming, setRenaming] = useState<Doc | null>(null);
  const [sharing, setSharing] = useState<Doc | null>(null);
  const query = {
    ...page,
    sort,
    ...(search ? { search } : {}),
    ...(mimeType ? { mimeType } : {}),
  };
  const documents = useQuery({
    queryKey: ["org", org.id, "documents", "list", query],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/documents", {
          params: { path: { org: org.id }, query },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const refresh = () => client.invalidateQueries({ queryKey: ["org", org.id, "documents"] });
  const remove = useMutation({
    mutationFn: (doc: Doc) =>
      call(
        api.DELETE("/api/v1/organizations/{org}/documents/{doc}", {
          params: { path: { org: org.id, doc: doc.id } },
        }),
      ),
    onSuccess: refresh,
  });
  const content = (doc: Doc) => `/api/v1/organizations/${org.id}/documents/${doc.id}/content`;
  const storage = useStorage(org.id);
  const canStamp = can.timestampDocuments && (storage.data?.timestampsAvailable ?? false);
  const stamp = useMutation({
    mutationFn: (documentIds: string[]) =>
      call(
        api.POST("/api/v1/organizations/{org}/documents/timestamps", {
          params: { path: { org: org.id } },
          body: { documentIds },
        }),
      ),
    onSuccess: refresh,
  });
  const unstamped = (documents.data?.data ?? []).filter((d) => !d.timestampedAt).map((d) => d.id);

  return (
    <Stack hasGutter>
      <StackItem>
        <StorageUse org={org.id} />
      </StackItem>
      {can.manageFiles ? (
        <StackItem>
          <Orphans org={org.id} />
        </StackItem>
      ) : null}
      {can.uploadDocuments ? (
        <StackItem>
          <Title headingLevel="h2">{t("organization.documents.upload")}</Title>
          <Uploads org={org.id} onUploaded={refresh} />
        </StackItem>
      ) : null}
      <StackItem>
        <Toolbar>
          <ToolbarContent>
            <ToolbarItem>
              <SearchInput
                aria-label={t("organization.documents.search")}
                placeholder={t("organization.documents.search")}
                value={search}
                onChange={(_, v) => {
                  setSearch(v);
                  setPage((p) => ({ ...p, page: 1 }));
                }}
                onClear={() => setSearch("")}
              />
            </ToolbarItem>
            <ToolbarItem>
              <FormSelect
                aria-label={t("organization.documents.type")}
                value={mimeType}
                onChange={(_, v) => {
                  setMimeType(v);
                  setPage((p) => ({ ...p, page: 1 }));
                }}
              >
                <FormSelectOption value="" label={t("organization.documents.anyType")} />
                {org.documentTypes.map((type) => (
                  <FormSelectOption key={type} value={type} label={type} />
                ))}
              </FormSelect>
            </ToolbarItem>
            {canStamp ? (
              <ToolbarItem>
                <Button
                  variant="secondary"
                  onClick={() => stamp.mutate(unstamped)}
                  isLoading={stamp.isPending}
                  isDisabled={stamp.isPending || unstamped.length === 0}
                >
                  {t("organization.documents.stampPage")}
                </Button>
              </ToolbarItem>
            ) : null}
            <ToolbarItem>
              <FormSelect
                aria-label={t("organization.documents.order")}
                value={sort}
                onChange={(_, v) => setSort(v as Sort)}
              >
                {SORTS.map((s) => (
                  <FormSelectOption
                    key={s}
                    value={s}
                    label={t(`organization.documents.sorts.${s}`)}
                  />
                ))}
              </FormSelect>
            </ToolbarItem>
          </ToolbarContent>
        </Toolbar>
        <ProblemAlert error={remove.error ?? stamp.error} />
        {stamp.data ? (
          <Alert
            variant={stamp.data.failed > 0 ? "warning" : "success"}
            isInline
            title={t("organization.documents.stampDone", {
              timestamped: stamp.data.timestamped,
              already: stamp.data.alreadyTimestamped,
              failed: stamp.data.failed,
            })}
          >
            {stamp.data.results.find((r) => r.error)?.error}
          </Alert>
        ) : null}
        <Loaded query={documents}>
          {(result) =>
            result.data.length === 0 ? (
              <Empty title={t("organization.documents.none")}>
                {search || mimeType ? null : t("organization.documents.noneDetail")}
              </Empty>
            ) : (
              <>
                <Table aria-label={t("organization.documents.title")} variant="compact">
                  <Thead>
                    <Tr>
                      <Th>{t("fields.name")}</Th>
                      <Th>{t("organization.documents.type")}</Th>
                      <Th>{t("organization.documents.size")}</Th>
                      <Th>{t("organization.documents.added")}</Th>
                      <Th>{t("organization.documents.timestamp")}</Th>
                      <Th screenReaderText={t("common.actions")} />
                    </Tr>
                  </Thead>
                  <Tbody>
                    {result.data.map((doc) => (
                      <Tr key={doc.id}>
                        <Td dataLabel={t("fields.name")}>
                          <a href={content(doc)} download={doc.name}>
                            {doc.name}
                          </a>{" "}
                          {doc.ownerId === user.id ? (
                            <Label isCompact>{t("organization.documents.yours")}</Label>
                          ) : null}
                        </Td>
                        <Td dataLabel={t("organization.documents.type")}>{doc.mimeType}</Td>
                        <Td dataLabel={t("organization.documents.size")}>{bytes(doc.size)}</Td>
                        <Td dataLabel={t("organization.documents.added")}>
                          {dateTime(doc.createdAt)}
                        </Td>
                        <Td dataLabel={t("organization.documents.timestamp")}>
                          {doc.timestampedAt ? (
                            <a
                              href={`/api/v1/organizations/${org.id}/documents/${doc.id}/timestamp.tsr`}
                              download={`${doc.name}.tsr`}
                              title={t("organization.documents.timestampedAt", {
                                at: dateTime(doc.timestampedAt),
                              })}
                            >
                              <Label isCompact color="green">
                                {t("organization.documents.timestamped")}
                              </Label>
                            </a>
                          ) : canStamp ? (
                            <Button
                              variant="link"
                              isInline
                              onClick={() => stamp.mutate([doc.id])}
                              isDisabled={stamp.isPending}
                            >
                              {t("organization.documents.stamp")}
                            </Button>
                          ) : (
                            t("organization.documents.notTimestamped")
                          )}
                        </Td>
                        <Td dataLabel={t("common.actions")} isActionCell>
                          <Button variant="link" onClick={() => setSharing(doc)}>
                            {t("organization.documents.share")}
                          </Button>
                          {can.manageDocument(doc.ownerId) ? (
                            <>
                              <Button variant="link" onClick={() => setRenaming(doc)}>
                                {t("organization.documents.rename")}
                              </Button>
                              <ConfirmButton
                                label={t("common.delete")}
                                title={t("organization.documents.deleteTitle", { name: doc.name })}
                                body={t("organization.documents.deleteBody")}
                                confirm={t("common.delete")}
                                onConfirm={() => remove.mutateAsync(doc).catch(() => undefined)}
                              />
                            </>
                          ) : null}
                        </Td>
                      </Tr>
                    ))}
                  </Tbody>
                </Table>
                <Pager
                  {...page}
                  total={result.pagination.total}
                  onChange={(p, l) => setPage({ page: p, limit: l })}
                />
              </>
            )
          }
        </Loaded>
      </StackItem>
      <Modal
        variant="small"
        isOpen={renaming !== null}
        onClose={() => setRenaming(null)}
        aria-labelledby="rename-document-title"
      >
        <ModalHeader
          title={t("organization.documents.renameTitle", { name: renaming?.name ?? "" })}
          labelId="rename-document-title"
        />
        <ModalBody>
          {renaming ? (
            <Rename org={org.id} doc={renaming} onDone={() => setRenaming(null)} />
          ) : null}
        </ModalBody>
      </Modal>
      <Modal
        variant="medium"
        isOpen={sharing !== null}
        onClose={() => setSharing(null)}
        aria-labelledby="share-document-title"
      >
        <ModalHeader
          title={t("organization.documents.shareTitle", { name: sharing?.name ?? "" })}
          labelId="share-document-title"
        />
        <ModalBody>{sharing ? <ShareLink org={org.id} doc={sharing} /> : null}</ModalBody>
      </Modal>
    </Stack>
  );
}
