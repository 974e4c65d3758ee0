// Queries several pages share.
import { useQuery } from "@tanstack/react-query";
import { api, call } from "../api/client";

/** The signed-in person's subscriptions (all of them: a person has few). */
export function useMySubscriptions() {
  return useQuery({
    queryKey: ["subscriptions"],
    queryFn: () => call(api.GET("/api/v1/subscriptions", { params: { query: { limit: 100 } } })),
  });
}

export function useMyKeys() {
  return useQuery({
    queryKey: ["api-keys"],
    queryFn: () => call(api.GET("/api/v1/api-keys", { params: { query: { limit: 100 } } })),
  });
}
