import type { Ajv, SchemaValidateFunction } from 'ajv';
import { Type, type TNumberOptions } from 'typebox';

/**
 * An integer in a query string. Ajv 8.20 coerces the strings "Infinity", "-Infinity" and "1e999"
 * to ±Infinity and then skips minimum/maximum (they run only on finite numbers), so `limit=1e999`
 * passed a `maximum: 1000` and paged past the cap, and `before=Infinity` reached BigInt() (a 503).
 * The `finite` keyword below runs after the coercion and refuses them.
 */
export const QueryInteger = (options: TNumberOptions) => Type.Integer({ ...options, finite: true });

const finite: SchemaValidateFunction = (on: boolean, data: unknown) => {
  if (!on || typeof data !== 'number' || Number.isFinite(data)) return true;
  finite.errors = [{ keyword: 'finite', message: 'must be a finite number', params: {} }];
  return false;
};

/** Fastify's `ajv.plugins` entry defining the `finite` keyword for QueryInteger. */
export const finiteKeyword = (ajv: Ajv): Ajv => ajv.addKeyword({ keyword: 'finite', schemaType: 'boolean', validate: finite });
