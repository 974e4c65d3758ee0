import { Pagination } from "@patternfly/react-core";
import { useTranslation } from "react-i18next";

export function Pager({
  page,
  limit,
  total,
  onChange,
}: {
  page: number;
  limit: number;
  total: number;
  onChange: (page: number, limit: number) => void;
}) {
  const { t } = useTranslation();
  return (
    <Pagination
      itemCount={total}
      page={page}
      perPage={limit}
      onSetPage={(_, p) => onChange(p, limit)}
      onPerPageSelect={(_, l) => onChange(1, l)}
      titles={{
        paginationAriaLabel: t("common.pagination"),
        items: t("common.pager.items"),
        page: t("common.pager.page"),
        pages: t("common.pager.pages"),
        ofWord: t("common.pager.of"),
        perPageSuffix: t("common.pager.perPage"),
        toFirstPageAriaLabel: t("common.pager.toFirst"),
        toPreviousPageAriaLabel: t("common.pager.toPrevious"),
        toNextPageAriaLabel: t("common.pager.toNext"),
        toLastPageAriaLabel: t("common.pager.toLast"),
        currPageAriaLabel: t("common.pager.current"),
        optionsToggleAriaLabel: t("common.pager.perPageMenu"),
      }}
      isCompact
    />
  );
}
