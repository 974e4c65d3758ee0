// Who is signed in: `GET /auth/me` through the session cookie. A 401 means nobody.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError, call, type Schemas } from "../api/client";

export type User = Schemas["UserDto"];

export function useMe() {
  return useQuery<User | null>({
    queryKey: ["me"],
    queryFn: async () => {
      try {
        return await call(api.GET("/api/v1/auth/me"));
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) return null;
        throw e;
      }
    },
    staleTime: 60_000,
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return async () => {
    try {
      await call(api.POST("/api/v1/auth/logout"));
    } finally {
      client.clear();
      client.setQueryData(["me"], null);
    }
  };
}

export const isAdmin = (user: User | null | undefined) =>
  user?.role === "admin" || user?.role === "adminReadonly";
export const canAdminister = (user: User | null | undefined) => user?.role === "admin";
