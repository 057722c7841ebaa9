/** 415 raised by the body parser, once the whole body was read: the connection can carry on. */
export class UnsupportedMediaError extends Error {
  readonly statusCode = 415;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
