import { GraphQLError } from "graphql";

/**
 * Argument checks shared by the resolvers. Each failure is a GraphQLError with `extensions.code = BAD_USER_INPUT`
 * and `extensions.argument` naming the argument (dotted for input fields: `context.country`), so a client can
 * point at the offending field without parsing the message.
 */

/** Most ids a client may send in `context.sessionVideoIds`: a session longer than this adds nothing to ranking. */
export const MAX_SESSION_VIDEO_IDS = 200;
const MAX_ID_LENGTH = 256;
const MAX_CURSOR_LENGTH = 4096;

export function badUserInput(argument: string, message: string): GraphQLError {
  return new GraphQLError(`${argument}: ${message}`, { extensions: { code: "BAD_USER_INPUT", argument } });
}

export function notFound(argument: string, message: string): GraphQLError {
  return new GraphQLError(`${argument}: ${message}`, { extensions: { code: "NOT_FOUND", argument } });
}

export function checkPageSize(first: number, max: number, argument = "first"): number {
  if (!Number.isInteger(first) || first < 1 || first > max) {
    throw badUserInput(argument, `must be an integer between 1 and ${max}, got ${first}`);
  }
  return first;
}

// Control characters in an id are never legitimate and would corrupt logs and keys downstream.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkId(value: string, argument: string): string {
  const id = value.trim();
  if (id.length === 0) throw badUserInput(argument, "must not be empty");
  if (id.length > MAX_ID_LENGTH) throw badUserInput(argument, `must be at most ${MAX_ID_LENGTH} characters`);
  if (CONTROL.test(id)) throw badUserInput(argument, "must not contain control characters");
  return id;
}

/** ISO 3166-1 alpha-2, any case in, upper case out. */
export function checkCountry(value: string | undefined | null, argument: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!/^[A-Za-z]{2}$/.test(value)) {
    throw badUserInput(argument, `must be an ISO 3166-1 alpha-2 country code like "US", got "${value.slice(0, 20)}"`);
  }
  return value.toUpperCase();
}

/** BCP 47 tag in, lower-case primary subtag out ("en-GB" → "en"): the catalog stores primary languages. */
export function checkLanguage(value: string | undefined | null, argument: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (!/^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$/.test(value)) {
    throw badUserInput(argument, `must be a BCP 47 language tag like "en" or "pt-BR", got "${value.slice(0, 20)}"`);
  }
  return value.split(/[-_]/)[0].toLowerCase();
}

export function checkTime(value: Date | undefined | null, argument: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = value.getTime();
  if (!Number.isFinite(ms)) throw badUserInput(argument, "is not a valid date-time");
  return ms;
}

export function checkIdList(values: readonly string[] | undefined | null, argument: string, max: number): string[] | undefined {
  if (values === undefined || values === null) return undefined;
  if (values.length > max) throw badUserInput(argument, `must have at most ${max} entries, got ${values.length}`);
  return values.map((v, i) => checkId(v, `${argument}[${i}]`));
}

export function checkCursor(value: string | undefined | null, argument: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (value.length === 0 || value.length > MAX_CURSOR_LENGTH) throw badUserInput(argument, "is not a cursor this server issued");
  return value;
}
