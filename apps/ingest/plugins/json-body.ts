import fp from 'fastify-plugin';

/** Deeper than any real event; deep enough nesting overflows the recursive JSON walkers. */
export const MAX_JSON_DEPTH = 64;

/** Deepest bracket nesting outside strings: one linear pass, no recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) max = depth;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
  }
  return max;
}

/**
 * Fastify's own JSON parser (prototype-poisoning keys refused), behind a nesting-depth check: a
 * body nested thousands deep would otherwise overflow the stack in a recursive walker and turn a
 * client's mistake into a server error.
 */
export default fp(
  async (app) => {
    const parse = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
      const text = body as string;
      if (jsonDepth(text) > MAX_JSON_DEPTH) {
        const err = Object.assign(new Error(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400, code: 'JSON_TOO_DEEP' });
        return done(err, undefined);
      }
      parse(req, text, done);
    });
  },
  { name: 'json-body' },
);
