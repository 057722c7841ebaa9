import pg from 'pg';

const PG_CHAR_OID = 18; // "char": one byte, text on the wire
const PG_NAME_OID = 19;
const PG_TEXT_OID = 25;

type QueryResultLike = { fields?: Array<{ dataTypeID: number }> };

// Upstream bug prisma/orm#27403: @prisma/adapter-pg cannot deserialize PostgreSQL's `name` type,
// which the schema engine's own bookkeeping queries return, so `prisma migrate deploy` fails with
// "Column type 'name' could not be deserialized" (and `migrate diff`, which describes the catalog,
// the same for `"char"`). Both are text on the wire, so relabelling the columns as text is
// lossless. Remove this file once the fix is released.
function relabelNameColumns<T>(result: T): T {
  for (const r of (Array.isArray(result) ? result : [result]) as QueryResultLike[]) {
    for (const field of r?.fields ?? []) {
      if (field.dataTypeID === PG_NAME_OID || field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
    }
  }
  return result;
}

class NameAsTextClient extends pg.Client {
  // pg's query() has many overloads (promise, callback, submittable); wrap the two that return rows.
  // One signature that satisfies them all has to return `any`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override query(...args: unknown[]): any {
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = (err: Error | null, res: unknown) => callback(err, err ? res : relabelNameColumns(res));
      return (super.query as (...a: unknown[]) => unknown)(...args);
    }
    const out = (super.query as (...a: unknown[]) => unknown)(...args);
    return out instanceof Promise ? out.then(relabelNameColumns) : out;
  }
}

/** A pg pool whose connections report `name` columns as text (see above). */
export function createPgPool(config: pg.PoolConfig): pg.Pool {
  return new pg.Pool({ ...config, Client: NameAsTextClient });
}
