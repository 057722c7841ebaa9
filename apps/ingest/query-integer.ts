import type { Ajv } from 'ajv';
import type { DataValidateFunction } from 'ajv/dist/types/index.js';
import { Type, type TNumberOptions, type TProperties } from 'typebox';

/** An integer in a query string: decimal digits only (see QueryString). */
export const QueryInteger = (options: TNumberOptions) => Type.Integer(options);

/**
 * A query string's schema: no unknown parameters, and its integers written in decimal digits.
 *
 * Ajv coerces a query string with Number(), which also takes `0x10`, `1e2`, `0b11`, ` 1` (`%201`)
 * and `1.0`: a client's typo answered as if it meant something. Worse, "Infinity" and "1e999"
 * become ±Infinity, which minimum/maximum let through (they run only on finite numbers):
 * `limit=1e999` paged past the cap and `before=Infinity` reached BigInt() (a 503). The `decimal`
 * keyword runs on the object before its properties are coerced, and refuses them, naming the field.
 */
export const QueryString = <P extends TProperties>(properties: P) =>
  Type.Object(properties, { additionalProperties: false, decimal: true });

const DECIMAL = /^-?[0-9]+$/;

const refusal = (value: string) =>
  !DECIMAL.test(value) ? 'must be an integer in decimal digits' : Number.isFinite(Number(value)) ? undefined : 'must be a finite number';

/** Fastify's `ajv.plugins` entry defining `decimal` for QueryString. */
export const queryIntegerKeywords = (ajv: Ajv): Ajv =>
  ajv.addKeyword({
    keyword: 'decimal',
    type: 'object',
    schemaType: 'boolean',
    // Before `properties`: that is where the strings are coerced, and the digits lost.
    before: 'properties',
    errors: true,
    compile(on: boolean, parent) {
      const integers = Object.entries((parent.properties ?? {}) as Record<string, { type?: unknown }>)
        .filter(([, s]) => s.type === 'integer')
        .map(([name]) => name);
      const check: DataValidateFunction = (data: Record<string, unknown>) => {
        check.errors = [];
        for (const name of on ? integers : []) {
          const value = data[name];
          const message = typeof value === 'string' ? refusal(value) : undefined;
          if (message) check.errors.push({ keyword: 'decimal', instancePath: `/${name}`, message, params: {} });
        }
        return check.errors.length === 0;
      };
      return check;
    },
  });
