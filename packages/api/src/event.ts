import { z } from "zod";
import { EVENT_TYPES } from "./values.ts";

export type EventType = (typeof EVENT_TYPES)[number];

export const Event = z.object({
  id: z.string(),
  type: z.enum(EVENT_TYPES),
  sandbox: z.string().nullable(),
  snapshot: z.string().nullable(),
  message: z.string(),
  createdAt: z.string(),
});
export type Event = z.infer<typeof Event>;

/** Query of `GET /v1/events` and `GET /v1/sandboxes/{id}/events`; oldest first. */
export const EventListQuery = z.strictObject({
  type: z.enum(EVENT_TYPES).optional(),
  sandbox: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});
export type EventListQuery = z.infer<typeof EventListQuery>;
