/** /api/v1/tokens: administrators issue, list and revoke API tokens. */
import { z } from 'zod';
import { StrataError } from '../errors.js';
import { TeamNameSchema } from '../engine/jobManifest.js';
import { issueToken } from './auth.js';
import type { ApiDeps } from './deps.js';
import { defineRoute, type Route } from './route.js';

const TokenViewSchema = z.object({
  id: z.string(),
  team: z.string().nullable().meta({ description: "The team the token acts for; null for an administrator's token" }),
  name: z.string(),
  createdAt: z.string().meta({ format: 'date-time' }),
});

export const TokenRequestSchema = z
  .strictObject({
    team: TeamNameSchema.optional().meta({ description: 'The team the token acts for' }),
    admin: z.literal(true).optional().meta({ description: "true for an administrator's token (instead of team)" }),
    name: z.string().min(1).max(200).optional().meta({ description: 'What the token is for' }),
  })
  .refine((r) => (r.team === undefined) !== (r.admin === undefined), { message: 'give either team or admin: true', path: ['team'] })
  .meta({ oneOf: [{ required: ['team'] }, { required: ['admin'] }] });

export function tokenRoutes(deps: ApiDeps): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/api/v1/tokens',
      summary: 'Issue a token for a team (or an administrator). The token is shown only in this response',
      tag: 'tokens',
      access: 'admin',
      body: TokenRequestSchema,
      responses: { 201: { description: 'The new token', schema: TokenViewSchema.extend({ token: z.string() }) } },
      async handler({ body }) {
        const name = body.name ?? (body.team !== undefined ? `team ${body.team}` : 'admin');
        const { token, record } = await issueToken(deps.store, { name, ...(body.team !== undefined ? { team: body.team } : {}) });
        return { token, id: record.id, team: record.team ?? null, name: record.name, createdAt: new Date(record.createdAtMs).toISOString() };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/api/v1/tokens',
      summary: 'List tokens (never the tokens themselves)',
      tag: 'tokens',
      access: 'admin',
      responses: { 200: { description: 'Every token', schema: z.object({ tokens: z.array(TokenViewSchema) }) } },
      async handler() {
        const tokens = await deps.store.tokens.list();
        return { tokens: tokens.map((t) => ({ id: t.id, team: t.team ?? null, name: t.name, createdAt: new Date(t.createdAtMs).toISOString() })) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/api/v1/tokens/:id',
      summary: "Revoke a token: it stops working at once. The last administrator's token cannot be revoked (409)",
      tag: 'tokens',
      access: 'admin',
      params: z.strictObject({ id: z.string().regex(/^tok-[0-9a-f]{12}$/, 'is not a token id') }),
      responses: { 204: { description: 'Revoked' } },
      errors: [404, 409],
      async handler({ params }) {
        const outcome = await deps.store.tokens.revoke(params.id);
        if (outcome === 'not_found') throw new StrataError('not_found', `no token "${params.id}"`);
        if (outcome === 'last_admin')
          throw new StrataError('conflict', `token "${params.id}" is the last administrator's token: issue another one (POST /api/v1/tokens with admin: true) before revoking it`);
        return undefined;
      },
    }),
  ];
}
