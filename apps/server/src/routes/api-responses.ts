// Answers of the routes registered in api.ts, by "METHOD url" (routes in routes/ declare
// theirs inline). A route without a schema fails the OpenAPI completeness test.
import type { z } from 'zod';
import {
  execResultSchema,
  sessionListSchema,
  sessionSchema,
  taskListSchema,
  taskSchema,
  taskWithLogSchema,
  terminalListSchema,
  terminalSchema,
} from '../schemas';

export const API_RESPONSES: Readonly<Record<string, z.ZodType>> = {
  'POST /v1/sessions': sessionSchema,
  'GET /v1/sessions': sessionListSchema,
  'GET /v1/sessions/:id': sessionSchema,
  'POST /v1/sessions/:id/pause': sessionSchema,
  'POST /v1/sessions/:id/resume': sessionSchema,
  'POST /v1/sessions/:id/exec': execResultSchema,
  'POST /v1/sessions/:id/tasks': taskSchema,
  'GET /v1/sessions/:id/tasks': taskListSchema,
  'GET /v1/sessions/:id/tasks/:taskId': taskWithLogSchema,
  'DELETE /v1/sessions/:id/tasks/:taskId': taskSchema,
  'POST /v1/sessions/:id/terminals': terminalSchema,
  'GET /v1/sessions/:id/terminals': terminalListSchema,
};
