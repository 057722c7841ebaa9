import { Type } from 'typebox';
import type { FieldError } from '../../shared/validate-event.ts';

/**
 * 422: a /publish body that cannot be accepted as events, whatever the reason (not JSON, nested too
 * deep, not an event, an invalid field). The previous service answered 422 here (FastAPI's validation status)
 * and its clients test for it. `errors` names every field at fault; `field` is "" when the body
 * itself is at fault.
 */
export const Unprocessable = Type.Object({
  statusCode: Type.Literal(422),
  code: Type.Optional(Type.String()),
  error: Type.String(),
  message: Type.String(),
  errors: Type.Array(Type.Object({ index: Type.Optional(Type.Integer()), field: Type.String(), message: Type.String() })),
});

/** An error the error handler answers with 422 and these field errors. */
export class UnprocessableBodyError extends Error {
  readonly statusCode = 422;
  constructor(
    message: string,
    readonly code: string,
    readonly errors: FieldError[] = [{ field: '', message }],
  ) {
    super(message);
  }
}
