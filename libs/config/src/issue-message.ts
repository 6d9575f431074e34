import type { z } from 'zod';

/**
 * zod's own wording ("Invalid input: expected number, received NaN") says nothing a person
 * setting ST_HTTP_PORT can act on. Messages our schemas wrote themselves are kept; zod's
 * defaults (they start with these words) are rewritten from the issue's fields.
 */
const ZOD_DEFAULT = /^(Invalid|Too (small|big)|Expected|Unrecognized|Required)\b/;

/** Every level of detail a person needs about one bad value, without validator jargon. */
export function describeIssue(issue: z.core.$ZodIssue): string {
  if (!ZOD_DEFAULT.test(issue.message)) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'number' || issue.expected === 'int' || issue.expected === 'bigint'
        ? 'expected a number'
        : issue.expected === 'boolean'
          ? 'expected true or false'
          : `expected a ${issue.expected === 'string' ? 'text value' : issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string'
        ? `expected at least ${String(issue.minimum)} characters`
        : `expected a number ${issue.inclusive === false ? 'above' : 'of at least'} ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'string'
        ? `expected at most ${String(issue.maximum)} characters`
        : `expected a number ${issue.inclusive === false ? 'below' : 'of at most'} ${String(issue.maximum)}`;
    case 'invalid_format':
      return issue.format === 'url' ? 'expected a URL such as http://host:port' : `expected ${issue.format === 'regex' ? 'a value of the documented form' : `a valid ${issue.format}`}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}`;
    default:
      return 'not a value this setting accepts: see --help';
  }
}
