// Small helpers every cluster step uses.

/** Throws `message` unless `ok`: a step's failed check. */
export function check(ok: unknown, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

/** `repository:tag` split at the tag's colon (a registry port is not a tag); no tag is `latest`. */
export function splitImage(image: string): [string, string] {
  const i = image.lastIndexOf(':');
  return i > image.lastIndexOf('/') ? [image.slice(0, i), image.slice(i + 1)] : [image, 'latest'];
}
