// Queries the organization's tabs share. Keys start with "org", and those about one
// organization with its id too, so that one invalidation refreshes all of it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, call, type Schemas } from "../../api/client";
import type { Permission } from "./access";

/** Every item of a paginated list, 100 at a time (the API's largest page). */
export async function everyPage<T>(
  get: (page: number, limit: number) => Promise<{ data: T[]; pagination: Schemas["Pagination"] }>,
): Promise<T[]> {
  const all: T[] = [];
  for (let page = 1; ; page++) {
    const { data, pagination } = await get(page, 100);
    all.push(...data);
    if (data.length === 0 || all.length >= pagination.total) return all;
  }
}

export function useOrg(org: string) {
  return useQuery({
    queryKey: ["org", org],
    queryFn: () => call(api.GET("/api/v1/organizations/{org}", { params: { path: { org } } })),
  });
}

/** Storage use, and whether the server can time-stamp documents. */
export function useStorage(org: string) {
  return useQuery({
    queryKey: ["org", org, "documents", "storage"],
    queryFn: () =>
      call(api.GET("/api/v1/organizations/{org}/storage", { params: { path: { org } } })),
  });
}

/** All members, for choosing one (to add to a team). */
export function useAllMembers(org: string) {
  return useQuery({
    queryKey: ["org", org, "members", "all"],
    queryFn: () =>
      everyPage((page, limit) =>
        call(
          api.GET("/api/v1/organizations/{org}/members", {
            params: { path: { org }, query: { page, limit } },
          }),
        ),
      ),
  });
}

/** All teams, for choosing one (to grant it a role on a vault). */
export function useAllTeams(org: string) {
  return useQuery({
    queryKey: ["org", org, "teams", "all"],
    queryFn: () =>
      everyPage((page, limit) =>
        call(
          api.GET("/api/v1/organizations/{org}/teams", {
            params: { path: { org }, query: { page, limit } },
          }),
        ),
      ),
  });
}

/** All service clients, for choosing one (to grant it a role on a vault). */
export function useAllClients(org: string) {
  return useQuery({
    queryKey: ["org", org, "clients", "all"],
    queryFn: () =>
      everyPage((page, limit) =>
        call(
          api.GET("/api/v1/organizations/{org}/clients", {
            params: { path: { org }, query: { page, limit } },
          }),
        ),
      ),
  });
}

export function useTeamMembersPage(org: string, team: string, page: number, limit: number) {
  return useQuery({
    queryKey: ["org", org, "team", team, "members", page, limit],
    queryFn: () =>
      call(
        api.GET("/api/v1/organizations/{org}/teams/{team}/members", {
          params: { path: { org, team }, query: { page, limit } },
        }),
      ),
  });
}

/** All of a team's members, to leave them out when choosing whom to add. */
export function useAllTeamMembers(org: string, team: string) {
  return useQuery({
    queryKey: ["org", org, "team", team, "members", "all"],
    queryFn: () =>
      everyPage((page, limit) =>
        call(
          api.GET("/api/v1/organizations/{org}/teams/{team}/members", {
            params: { path: { org, team }, query: { page, limit } },
          }),
        ),
      ),
  });
}

/**
 * The permissions owners delegated to teams the person belongs to. Only myRole comes
 * with the organization, so they are read from the teams that carry any.
 */
export function useDelegated(org: string, userId: string, enabled: boolean) {
  return useQuery({
    queryKey: ["org", org, "delegated", userId],
    enabled,
    queryFn: async () => {
      const teams = await everyPage((page, limit) =>
        call(
          api.GET("/api/v1/organizations/{org}/teams", {
            params: { path: { org }, query: { page, limit } },
          }),
        ),
      );
      const granted = await Promise.all(
        teams
          .filter((team) => team.permissions.length > 0)
          .map(async (team) => {
            const members = await everyPage((page, limit) =>
              call(
                api.GET("/api/v1/organizations/{org}/teams/{team}/members", {
                  params: { path: { org, team: team.id }, query: { page, limit } },
                }),
              ),
            );
            return members.some((m) => m.userId === userId) ? team.permissions : [];
          }),
      );
      return new Set<Permission>(granted.flat());
    },
  });
}

/** The model catalog, to choose a team's models from. */
export function useCatalog() {
  return useQuery({
    queryKey: ["org", "models"],
    queryFn: () =>
      everyPage((page, limit) =>
        call(api.GET("/api/v1/models", { params: { query: { page, limit } } })),
      ),
    staleTime: 60_000,
  });
}

/**
 * Refreshes an organization after a change, with the lists that show it: the
 * organizations, and the teams and keys of the API keys page.
 */
export function useRefreshOrg(org: string) {
  const client = useQueryClient();
  return () =>
    Promise.all([
      client.invalidateQueries({ queryKey: ["org", org] }),
      client.invalidateQueries({ queryKey: ["org", "list"] }),
      client.invalidateQueries({ queryKey: ["my-teams"] }),
    ]);
}
